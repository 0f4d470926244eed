/// The text of the files `vmhost plugin new` writes. `__NAME__` style placeholders are not used: each template
/// is a Swift string with the name interpolated, raw (`#"…"#`) where the generated code itself contains `\(`.
struct PluginTemplates {
    let name: String
    let vmhost: String
    let vmhostIsURL: Bool

    /// The name in lower case (C file names).
    var lower: String { name.lowercased() }

    /// The device skeleton's I/O base port.
    let port = "0x5a0"

    // MARK: Swift

    var swiftPackage: String {
        let dependency = vmhostIsURL
            ? ".package(url: \"\(vmhost)\", branch: \"main\")"
            : ".package(name: \"VMHost\", path: \"\(vmhost)\")"
        return """
            // swift-tools-version:6.1
            // \(name): a VMHost plugin. `swift build` builds lib\(name).so; `swift test` runs its tests.
            import PackageDescription

            let package = Package(
                name: "\(name)",
                platforms: [.macOS(.v15)],
                products: [
                    .library(name: "\(name)", type: .dynamic, targets: ["\(name)"]),
                ],
                dependencies: [
                    // VMHost by path (a source checkout) or by URL: .package(url: "https://…/VMHost.git", branch: "main")
                    \(dependency),
                ],
                targets: [
                    .target(name: "\(name)",
                            dependencies: [.product(name: "VMHostPluginSDK", package: "VMHost")],
                            swiftSettings: [.swiftLanguageMode(.v6)]),
                    // Never depend on the plugin target here: the tests load lib\(name).so from the build folder.
                    .testTarget(name: "\(name)Tests",
                                dependencies: [.product(name: "VMHostPluginTestKit", package: "VMHost")],
                                swiftSettings: [.swiftLanguageMode(.v6)]),
                ]
            )

            """
    }

    var swiftDevice: String {
        """
        // \(name): a VMHost device. One 32-bit register at `iobase` (default \(port)): what the guest writes there
        // it reads back; a VM reset clears it. Settings: `iobase`.
        import PluginSDK

        /// The \(name) device: one object per instance.
        final class \(name): DevicePlugin {
            static let name = "\(name)"
            static let description = "One read/write register at iobase"

            /// The register (touched only from callbacks, which the host serialises per instance).
            private var register: UInt32 = 0

            init(context: DeviceContext) throws {
                try context.config.validate(keys: ["iobase"])
                let base = try context.config.integer("iobase", as: UInt16.self, default: \(port), in: 0...0xfffc)
                // Method references: the context owns the handlers and drops them at destruct.
                try context.registerPorts(base: base, count: 4, description: "\(name) register",
                                          read: guestRead, write: guestWrite)
            }

            /// A guest read of `size` bytes at `offset` into the register.
            private func guestRead(offset: UInt16, size: Int) -> UInt32 {
                (register >> (UInt32(offset) * 8)) & mask(size)
            }

            /// A guest write of `size` bytes at `offset` into the register.
            private func guestWrite(offset: UInt16, size: Int, value: UInt32) {
                let shift = UInt32(offset) * 8
                let bits = mask(size) << shift
                register = (register & ~bits) | ((value << shift) & bits)
            }

            func reset() -> PowerResult {
                register = 0
                return .done
            }
        }

        /// All-ones of an access of `size` bytes.
        private func mask(_ size: Int) -> UInt32 {
            size >= 4 ? UInt32.max : (UInt32(1) << (UInt32(size) * 8)) - 1
        }

        /// The module's entry point: the one symbol vmhost looks for.
        @_cdecl("vmhost_plugin_register")
        public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
            PluginExports.register(registrar, hostAbiVersion, devices: [\(name).self])
        }

        """
    }

    var swiftDeviceTests: String {
        """
        import PluginTestKit
        import Testing

        /// lib\(name).so from the build folder, driven through the VMHost plugin test kit.
        @Suite(.serialized)
        struct \(name)Tests {
            private func harness() throws -> PluginTestHarness {
                let h = PluginTestHarness()
                try h.loadProduct("\(name)")
                h.addDevice(DeviceConfig(name: "\(name)"))
                try h.construct()
                try h.powerOn()
                return h
            }

            @Test func registersFourPorts() throws {
                let h = try harness()
                #expect(h.vmm.portRanges.map(\\.port) == [\(port)])
                #expect(h.vmm.portRanges.map(\\.count) == [4])
            }

            @Test func registerKeepsWhatTheGuestWrites() throws {
                let h = try harness()
                h.portOut(\(port), size: 4, value: 0x1234_5678)
                #expect(h.portIn(\(port), size: 4).value == 0x1234_5678)
                h.portOut(\(port) + 1, size: 1, value: 0xab)
                #expect(h.portIn(\(port), size: 4).value == 0x1234_ab78)
                #expect(h.portIn(\(port) + 2, size: 2).value == 0x1234)
            }

            @Test func resetClearsTheRegister() throws {
                let h = try harness()
                h.portOut(\(port), size: 4, value: 7)
                try h.reset()
                #expect(h.portIn(\(port), size: 4).value == 0)
            }

            @Test func survivesRandomGuestIO() throws {
                let h = try harness()
                #expect(h.fuzzIO(iterations: 1_000, seed: 1).failedAccesses == 0)
            }
        }

        """
    }

    var swiftDriver: String {
        #"""
        // \#(name): a VMHost driver. It offers a char connector to the device (or driver) above, counts the bytes
        // written through it, and passes them to the driver below when one is configured. It logs the count at
        // power-off. No settings.
        import PluginSDK
        import Synchronization

        /// The \#(name) driver: one object per instance.
        final class \#(name): DriverPlugin {
            static let name = "\#(name)"
            static let description = "Counts the bytes written through it and passes them on"

            private let context: DriverContext
            /// Bytes written through the connector. The host takes no lock around driver callbacks.
            private let total = Atomic<Int64>(0)
            private var connector: OfferedCharConnector?
            private var below: CharConnector?

            init(context: DriverContext, flags: UInt32) throws {
                self.context = context
                try context.config.validate(keys: [])
                if try context.attachBelow() {
                    below = context.queryBelow(CharConnector.self)
                }
                // A method reference: the context owns the connector's closure and drops it at destruct.
                connector = context.offerCharConnector(write: passOn)
            }

            /// Bytes from the device (or driver) above: count them, hand them to the driver below if any.
            private func passOn(_ bytes: UnsafeRawBufferPointer) -> Int64 {
                total.add(Int64(bytes.count), ordering: .relaxed)
                return below?.write(bytes) ?? Int64(bytes.count)
            }

            func powerOff() -> PowerResult {
                context.log("\(total.load(ordering: .relaxed)) byte(s) passed")
                return .done
            }

            func queryInterface(iid: InterfaceID) -> UnsafeMutableRawPointer? {
                connector?.answer(iid)
            }
        }

        /// The module's entry point: the one symbol vmhost looks for.
        @_cdecl("vmhost_plugin_register")
        public func vmhostPluginRegister(_ registrar: UnsafePointer<VMHRegistrar>?, _ hostAbiVersion: UInt32) -> Int32 {
            PluginExports.register(registrar, hostAbiVersion, drivers: [\#(name).self])
        }

        """#
    }

    var swiftDriverTests: String {
        #"""
        import PluginTestKit
        import Testing

        /// lib\#(name).so from the build folder, below the test kit's Stub device, driven through the plugin test kit.
        @Suite(.serialized)
        struct \#(name)Tests {
            private func harness() throws -> PluginTestHarness {
                let h = PluginTestHarness()
                try h.loadProduct("\#(name)")
                try h.registerStubs()
                h.addDevice(DeviceConfig(name: "Stub", settings: ["luns": .integer(1)])
                    .lun(0, DriverConfig(name: "\#(name)")))
                try h.construct()
                try h.powerOn()
                return h
            }

            /// The char connector the driver offers to the device above.
            private func connector(_ h: PluginTestHarness) throws -> UnsafeMutablePointer<VMHCharConnector> {
                let driver = try #require(h.pdm.device(named: "Stub/0")?.topDriver(lun: 0))
                let query = try #require(driver.registration.pointee.queryInterface)
                let raw = try #require(query(driver.drvIns, VMH_IID_CHAR_CONNECTOR))
                return raw.assumingMemoryBound(to: VMHCharConnector.self)
            }

            @Test func offersACharConnector() throws {
                let h = try harness()
                _ = try connector(h)
            }

            @Test func countsBytesWrittenThroughIt() throws {
                let h = try harness()
                let c = try connector(h)
                let write = try #require(c.pointee.write)
                let bytes: [UInt8] = Array("hello".utf8)
                let accepted = bytes.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
                #expect(accepted == 5)
                try h.powerOff()
                #expect(h.messages(of: "Stub/0/0/\#(name)/0").contains("5 byte(s) passed"))
            }
        }

        """#
    }

    var gitignore: String {
        """
        .build/
        .swiftpm/
        Package.resolved

        """
    }

    // MARK: C

    var includeDirectory: String {
        vmhostIsURL ? "/path/to/VMHost/Sources/CVMHostABI/include" : vmhost + "/Sources/CVMHostABI/include"
    }

    var makefile: String {
        """
        # \(name): builds lib\(name).so against vmhost_plugin.h alone, every warning an error; `make test` runs
        # test_\(lower) (a C stand-in host that loads the .so and drives it).
        CC ?= cc
        VMHOST_INCLUDE ?= \(includeDirectory)
        WARNINGS = -std=c11 -Wall -Wextra -Wpedantic -Werror
        CFLAGS ?= -O2 -g

        all: lib\(name).so

        lib\(name).so: \(lower).c
        \t@if [ ! -f "$(VMHOST_INCLUDE)/vmhost_plugin.h" ]; then echo "set VMHOST_INCLUDE to the folder of vmhost_plugin.h" >&2; exit 1; fi
        \t$(CC) $(WARNINGS) $(CFLAGS) -shared -fPIC -fvisibility=hidden -I$(VMHOST_INCLUDE) -o $@ \(lower).c

        test_\(lower): test_\(lower).c
        \t$(CC) $(WARNINGS) $(CFLAGS) -I$(VMHOST_INCLUDE) -o $@ test_\(lower).c -ldl

        test: lib\(name).so test_\(lower)
        \t./test_\(lower) ./lib\(name).so

        clean:
        \trm -f lib\(name).so test_\(lower)

        .PHONY: all test clean

        """
    }

    var cGitignore: String { "lib\(name).so\ntest_\(lower)\n" }

    var cDevice: String {
        """
        /* \(name): a VMHost device in C. One 32-bit register at `iobase` (default \(port)): what the guest writes
         * there it reads back; a VM reset clears it. Settings: `iobase`. Uses nothing but vmhost_plugin.h. */
        #include "vmhost_plugin.h"

        VMH_DECLARE_ABI_NOTE();

        /** Per-instance data (ins->data, zeroed by the host). */
        typedef struct State {
            uint16_t iobase;
            uint32_t reg;
        } State;

        static uint32_t mask_of(uint32_t size) { return size >= 4 ? 0xffffffffu : (1u << (size * 8u)) - 1u; }

        static int reg_in(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t *value) {
            State *s = user;
            (void)ins;
            *value = (s->reg >> ((uint32_t)(port - s->iobase) * 8u)) & mask_of(size);
            return VMH_OK;
        }

        static int reg_out(VMHDevIns *ins, void *user, uint16_t port, uint32_t size, uint32_t value) {
            State *s = user;
            uint32_t shift = (uint32_t)(port - s->iobase) * 8u;
            uint32_t bits = shift < 32u ? mask_of(size) << shift : 0u;
            (void)ins;
            s->reg = (s->reg & ~bits) | ((value << shift) & bits);
            return VMH_OK;
        }

        static int construct(VMHDevIns *ins) {
            VMH_DEVINS_CHECK_VERSIONS_RETURN(ins);
            State *s = ins->data;
            int64_t iobase = \(port);
            int rc = ins->hlp->cfgValidate(ins, "iobase");
            if (rc != VMH_OK) return rc;
            rc = ins->hlp->cfgQueryInteger(ins, "iobase", &iobase);
            if (rc != VMH_OK && rc != VMH_ERR_NOT_FOUND) return rc;
            if (iobase < 0 || iobase > 0xfffc) {
                ins->hlp->cfgError(ins, "iobase", "must lie in 0..0xfffc");
                return VMH_ERR_INVALID_VALUE;
            }
            s->iobase = (uint16_t)iobase;
            return ins->hlp->ioPortRegister(ins, s->iobase, 4, s, reg_in, reg_out, "\(name) register");
        }

        static void reset(VMHDevIns *ins) {
            ((State *)ins->data)->reg = 0;
        }

        static const VMHDeviceReg registration = {
            .version = VMH_DEVREG_VERSION,
            .hlpVersion = VMH_DEVHLP_VERSION,
            .name = "\(name)",
            .description = "One read/write register at iobase",
            .order = VMH_DEVORDER_MISC,
            .maxInstances = 1,
            .instanceSize = sizeof(State),
            .construct = construct,
            .reset = reset,
            .versionEnd = VMH_DEVREG_VERSION,
        };

        __attribute__((visibility("default")))
        int vmhost_plugin_register(const VMHRegistrar *registrar, uint32_t hostAbiVersion) {
            if (!registrar || !VMH_VERSION_SATISFIES(hostAbiVersion, VMH_ABI_VERSION)
                || !VMH_VERSION_SATISFIES(registrar->version, VMH_REGISTRAR_VERSION))
                return VMH_ERR_VERSION_MISMATCH;
            return registrar->registerDevice(registrar, &registration);
        }

        """
    }

    var cDriver: String {
        """
        /* \(name): a VMHost driver in C. It offers a char connector (VMH_IID_CHAR_CONNECTOR) to the device or
         * driver above, counts the bytes written through it and passes them to the driver below when there is one.
         * No settings. Uses nothing but vmhost_plugin.h. */
        #include "vmhost_plugin.h"

        #include <stdio.h>
        #include <string.h>

        VMH_DECLARE_ABI_NOTE();

        /** Per-instance data (ins->data, zeroed by the host). */
        typedef struct State {
            VMHCharConnector connector; /* what this driver offers; context = the instance */
            VMHCharConnector *below;    /* the driver below's connector, or NULL */
            uint64_t total;
        } State;

        static int64_t connector_write(VMHCharConnector *self, const void *buf, size_t size) {
            VMHDrvIns *ins = self->context;
            State *s = ins->data;
            s->total += size;
            return s->below ? s->below->write(s->below, buf, size) : (int64_t)size;
        }

        static int connector_flush(VMHCharConnector *self) {
            State *s = ((VMHDrvIns *)self->context)->data;
            return s->below ? s->below->flush(s->below) : VMH_OK;
        }

        static int construct(VMHDrvIns *ins, uint32_t flags) {
            VMH_DRVINS_CHECK_VERSIONS_RETURN(ins);
            State *s = ins->data;
            (void)flags;
            int rc = ins->hlp->cfgValidate(ins, "");
            if (rc != VMH_OK) return rc;
            s->connector.context = ins;
            s->connector.write = connector_write;
            s->connector.flush = connector_flush;
            rc = ins->hlp->attachBelow(ins, 0);
            if (rc == VMH_OK) s->below = ins->hlp->queryBelow(ins, VMH_IID_CHAR_CONNECTOR);
            else if (rc != VMH_ERR_NO_DRIVER_ATTACHED) return rc;
            return VMH_OK;
        }

        static void power_off(VMHDrvIns *ins) {
            char line[64];
            snprintf(line, sizeof line, "%llu byte(s) passed", (unsigned long long)((State *)ins->data)->total);
            ins->hlp->log(ins, VMH_LOG_INFO, line);
        }

        static void *query_interface(VMHDrvIns *ins, const char *iid) {
            return strcmp(iid, VMH_IID_CHAR_CONNECTOR) == 0 ? &((State *)ins->data)->connector : NULL;
        }

        static const VMHDriverReg registration = {
            .version = VMH_DRVREG_VERSION,
            .hlpVersion = VMH_DRVHLP_VERSION,
            .name = "\(name)",
            .description = "Counts the bytes written through it and passes them on",
            .maxInstances = 64,
            .instanceSize = sizeof(State),
            .construct = construct,
            .powerOff = power_off,
            .queryInterface = query_interface,
            .versionEnd = VMH_DRVREG_VERSION,
        };

        __attribute__((visibility("default")))
        int vmhost_plugin_register(const VMHRegistrar *registrar, uint32_t hostAbiVersion) {
            if (!registrar || !VMH_VERSION_SATISFIES(hostAbiVersion, VMH_ABI_VERSION)
                || !VMH_VERSION_SATISFIES(registrar->version, VMH_REGISTRAR_VERSION))
                return VMH_ERR_VERSION_MISMATCH;
            return registrar->registerDriver(registrar, &registration);
        }

        """
    }

    /// Shared top of both C test drivers: checks, loading, a registrar that records.
    private var cTestPrologue: String {
        """
        /* test_\(lower): a stand-in host for lib\(name).so. Loads it with dlopen, calls its entry point with a
         * registrar of its own, builds an instance with a fake helper table, and drives its callbacks.
         * Usage: test_\(lower) ./lib\(name).so — prints "N passed, N failed"; exit status 1 on any failure. */
        #define _POSIX_C_SOURCE 200809L
        #include "vmhost_plugin.h"

        #include <dlfcn.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>

        static int passed, failed;
        #define CHECK(cond) do { if (cond) passed++; else { failed++; \\
            fprintf(stderr, "FAIL %s:%d: %s\\n", __FILE__, __LINE__, #cond); } } while (0)

        static const VMHDeviceReg *device;
        static const VMHDriverReg *driver;

        static int reg_device(const VMHRegistrar *r, const VMHDeviceReg *reg) { (void)r; device = reg; return VMH_OK; }
        static int reg_driver(const VMHRegistrar *r, const VMHDriverReg *reg) { (void)r; driver = reg; return VMH_OK; }

        /* Loads the plugin and calls its entry point; 0 on success. */
        static int load(const char *path) {
            void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!module) { fprintf(stderr, "dlopen %s: %s\\n", path, dlerror()); return 1; }
            void *symbol = dlsym(module, VMH_PLUGIN_ENTRY_NAME);
            if (!symbol) { fprintf(stderr, "%s does not export %s\\n", path, VMH_PLUGIN_ENTRY_NAME); return 1; }
            VMHPluginEntry entry;
            memcpy(&entry, &symbol, sizeof entry); /* ISO C has no object-to-function pointer cast */
            VMHRegistrar registrar = {
                .version = VMH_REGISTRAR_VERSION, .abiVersion = VMH_ABI_VERSION,
                .registerDevice = reg_device, .registerDriver = reg_driver, .versionEnd = VMH_REGISTRAR_VERSION,
            };
            CHECK(entry(&registrar, VMH_ABI_VERSION) == VMH_OK);
            return 0;
        }

        /* Zeroed, 64-byte aligned instance data, as the host gives. */
        static void *instance_data(uint32_t size) {
            size_t rounded = (size + 63u) / 64u * 64u;
            void *data = rounded ? aligned_alloc(64, rounded) : NULL;
            if (data) memset(data, 0, rounded);
            return data;
        }

        """
    }

    var cDeviceTest: String {
        cTestPrologue + """
        static struct { uint16_t port, count; void *user; VMHIoPortIn in; VMHIoPortOut out; } ports;

        static void h_log(VMHDevIns *i, int l, const char *m) { printf("  [%s] %d: %s\\n", i->name, l, m); }
        static int h_validate(VMHDevIns *i, const char *k) { (void)i; (void)k; return VMH_OK; }
        static int h_int(VMHDevIns *i, const char *k, int64_t *v) { (void)i; (void)k; (void)v; return VMH_ERR_NOT_FOUND; }
        static int h_error(VMHDevIns *i, const char *k, const char *m) { (void)i; printf("  %s: %s\\n", k, m); return VMH_OK; }
        static int h_ports(VMHDevIns *i, uint16_t port, uint16_t count, void *user, VMHIoPortIn in, VMHIoPortOut out,
                           const char *d) {
            (void)i; (void)d;
            ports.port = port; ports.count = count; ports.user = user; ports.in = in; ports.out = out;
            return VMH_OK;
        }

        int main(int argc, char **argv) {
            if (load(argc > 1 ? argv[1] : "./lib\(name).so") != 0) return 1;
            CHECK(device != NULL);
            if (!device) return 1;
            CHECK(strcmp(device->name, "\(name)") == 0);

            /* Only the helpers this device calls are filled in; a real host fills in every one. */
            VMHDevHlp hlp = { .version = VMH_DEVHLP_VERSION, .log = h_log, .cfgValidate = h_validate,
                              .cfgQueryInteger = h_int, .cfgError = h_error, .ioPortRegister = h_ports,
                              .versionEnd = VMH_DEVHLP_VERSION };
            VMHDevIns ins = { .version = VMH_DEVINS_VERSION, .hlp = &hlp, .reg = device, .name = "\(name)/0",
                              .data = instance_data(device->instanceSize) };
            CHECK(device->construct(&ins) == VMH_OK);
            CHECK(ports.port == \(port) && ports.count == 4);
            if (!ports.in || !ports.out) return 1;

            uint32_t value = 0;
            CHECK(ports.out(&ins, ports.user, \(port), 4, 0x12345678u) == VMH_OK);
            CHECK(ports.in(&ins, ports.user, \(port), 4, &value) == VMH_OK && value == 0x12345678u);
            CHECK(ports.out(&ins, ports.user, \(port) + 1, 1, 0xab) == VMH_OK);
            CHECK(ports.in(&ins, ports.user, \(port), 4, &value) == VMH_OK && value == 0x1234ab78u);
            CHECK(ports.in(&ins, ports.user, \(port) + 2, 2, &value) == VMH_OK && value == 0x1234u);
            device->reset(&ins);
            CHECK(ports.in(&ins, ports.user, \(port), 4, &value) == VMH_OK && value == 0);
            if (device->destruct) device->destruct(&ins);
            free(ins.data);

            printf("test_\(lower): %d passed, %d failed\\n", passed, failed);
            return failed == 0 ? 0 : 1;
        }

        """
    }

    var cDriverTest: String {
        cTestPrologue + """
        static char logged[128];

        static void h_log(VMHDrvIns *i, int l, const char *m) {
            printf("  [%s] %d: %s\\n", i->name, l, m);
            snprintf(logged, sizeof logged, "%s", m);
        }
        static int h_validate(VMHDrvIns *i, const char *k) { (void)i; (void)k; return VMH_OK; }
        static int h_attach(VMHDrvIns *i, uint32_t f) { (void)i; (void)f; return VMH_ERR_NO_DRIVER_ATTACHED; }
        static void *h_below(VMHDrvIns *i, const char *iid) { (void)i; (void)iid; return NULL; }

        int main(int argc, char **argv) {
            if (load(argc > 1 ? argv[1] : "./lib\(name).so") != 0) return 1;
            CHECK(driver != NULL);
            if (!driver) return 1;
            CHECK(strcmp(driver->name, "\(name)") == 0);

            /* Only the helpers this driver calls are filled in; a real host fills in every one. */
            VMHDrvHlp hlp = { .version = VMH_DRVHLP_VERSION, .log = h_log, .cfgValidate = h_validate,
                              .attachBelow = h_attach, .queryBelow = h_below, .versionEnd = VMH_DRVHLP_VERSION };
            VMHDrvIns ins = { .version = VMH_DRVINS_VERSION, .hlp = &hlp, .reg = driver,
                              .name = "Dev/0/0/\(name)/0", .data = instance_data(driver->instanceSize) };
            CHECK(driver->construct(&ins, 0) == VMH_OK);
            VMHCharConnector *c = driver->queryInterface(&ins, VMH_IID_CHAR_CONNECTOR);
            CHECK(c != NULL);
            CHECK(driver->queryInterface(&ins, "vmhost.nothing/1") == NULL);
            if (!c) return 1;
            CHECK(c->write(c, "hello", 5) == 5);
            CHECK(c->write(c, "!", 1) == 1);
            CHECK(c->flush(c) == VMH_OK);
            driver->powerOff(&ins);
            CHECK(strcmp(logged, "6 byte(s) passed") == 0);
            if (driver->destruct) driver->destruct(&ins);
            free(ins.data);

            printf("test_\(lower): %d passed, %d failed\\n", passed, failed);
            return failed == 0 ? 0 : 1;
        }

        """
    }

    // MARK: README

    func readme(c: Bool, device: Bool) -> String {
        let what = device ? "device" : "driver"
        if c {
            return """
                # \(name)

                A VMHost \(what) plugin in C, written against `vmhost_plugin.h` only.

                1. Build: `make` (or `make VMHOST_INCLUDE=/path/to/VMHost/Sources/CVMHostABI/include`) gives `lib\(name).so`.
                2. Test: `make test` builds and runs `test_\(lower)`, a small stand-in host that loads the `.so` and drives it.
                3. Check and run: `vmhost plugin check ./lib\(name).so`, then `vmhost run --plugin-path . …` with a
                   configuration that names `\(name)`.

                See `docs/abi-compatibility.md` in VMHost for what the ABI versions promise.

                """
        }
        return """
            # \(name)

            A VMHost \(what) plugin in Swift, on the VMHost plugin SDK.

            1. Build: `swift build` gives `lib\(name).so` in `$(swift build --show-bin-path)`.
            2. Test: `swift test` loads that `.so` with the VMHost plugin test kit and drives it.
            3. Check and run: `vmhost plugin check "$(swift build --show-bin-path)/lib\(name).so"`, then
               `vmhost run --plugin-path "$(swift build --show-bin-path)" …` with a configuration that names `\(name)`.

            Build it with the same Swift toolchain as `vmhost` (Swift has no stable ABI on Linux).

            """
    }
}
