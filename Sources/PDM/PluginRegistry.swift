import CVMHostABI
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The device and driver types known to this process, and the modules that registered them.
///
/// `load(path:)` inspects a shared object (ELF checks, ABI note, file permissions), maps it and calls its entry
/// point with a registrar; every registration is validated and the module's registrations are committed together
/// or not at all. A refused module leaves the registry unchanged; every refusal is one line `<file>: <reason>`.
/// Thread-safe: lookups and loads may come from any thread.
public final class PluginRegistry: Sendable {
    private struct State: Sendable {
        var modules: [PluginModule] = []
        var devices: [DeviceType] = []
        var drivers: [DriverType] = []
        var deviceIndex: [String: Int] = [:]
        var driverIndex: [String: Int] = [:]
        var resolvedPaths: [String: PluginModule] = [:]
    }

    private let state = Mutex(State())
    private let logger: Logger

    /// An empty registry that logs load lines and refusals to `logger`.
    public init(logger: Logger = Logger(label: "vmhost.pdm.plugins")) {
        self.logger = logger
    }

    // MARK: Lookups

    /// The device type registered under `name`.
    public func device(named name: String) -> DeviceType? {
        state.withLock { state in state.deviceIndex[name].map { state.devices[$0] } }
    }

    /// The driver type registered under `name`.
    public func driver(named name: String) -> DriverType? {
        state.withLock { state in state.driverIndex[name].map { state.drivers[$0] } }
    }

    /// All device types, in registration order.
    public var devices: [DeviceType] { state.withLock { $0.devices } }

    /// All driver types, in registration order.
    public var drivers: [DriverType] { state.withLock { $0.drivers } }

    /// All modules, in load order.
    public var modules: [PluginModule] { state.withLock { $0.modules } }

    // MARK: Loading

    /// Loads the plugin module at `path`.
    @discardableResult
    public func load(path: String) throws(PluginLoadError) -> PluginModule {
        do throws(PluginLoadError) {
            let resolved = try PluginFileSecurity.check(path: path)
            if let existing = state.withLock({ $0.resolvedPaths[resolved] }) {
                throw PluginLoadError(path: path, kind: .alreadyLoaded,
                                      reason: "already loaded (as \(existing.displayName))")
            }
            let note = try ELFPluginInspector.inspect(path: path)
            let entry = try PluginLoader.openEntry(resolvedPath: resolved, path: path)
            let name = PluginModule.moduleName(forFile: String(resolved.split(separator: "/").last ?? Substring(path)))
            let module = try register(moduleName: name, path: path, resolvedPath: resolved, abiNote: note,
                                      entry: entry)
            return module
        } catch {
            logger.error("\(error.description)")
            throw error
        }
    }

    /// Judges the plugin file at `path` as `load(path:)` would before mapping it — permissions, ELF64 x86-64
    /// shared object, exported entry point, ABI note — without loading it or running any of its code.
    public static func inspect(path: String) throws(PluginLoadError) -> PluginFileInspection {
        let resolved = try PluginFileSecurity.check(path: path)
        let note = try ELFPluginInspector.inspect(path: path)
        let fileName = String(resolved.split(separator: "/").last ?? Substring(path))
        return PluginFileInspection(path: path, resolvedPath: resolved,
                                    moduleName: PluginModule.moduleName(forFile: fileName), abiNote: note)
    }

    /// Loads every `lib*.so` in each directory of `searchPaths`, in order, files sorted by name. A refusal does
    /// not stop the others.
    public func loadAll(searchPaths: [String]) -> PluginLoadReport {
        var report = PluginLoadReport()
        for directory in searchPaths {
            for path in pluginPaths(in: directory, refusals: &report.refused) {
                do throws(PluginLoadError) {
                    report.loaded.append(try load(path: path))
                } catch {
                    report.refused.append(error)
                }
            }
        }
        return report
    }

    /// Loads the plugins that register `devices` and `drivers` (the names a configuration uses) and, when it can,
    /// no others: unused plugins are never mapped, so they cost no start-up time, memory or attack surface.
    ///
    /// For each name not registered yet, the conventionally named file `lib<Name>.so` is tried first (the first
    /// search directory that has one). Names still missing after that are looked for in the other plugin files,
    /// in `loadAll` order, stopping as soon as every name is registered. A name that no file registers therefore
    /// leaves every file loaded, so the error that follows can list what there is. Refusals are logged and
    /// reported as by `loadAll`.
    public func loadNeeded(devices: Set<String>, drivers: Set<String>, searchPaths: [String]) -> PluginLoadReport {
        var report = PluginLoadReport()
        let files = searchPaths.flatMap { pluginPaths(in: $0, refusals: &report.refused) }
        func missing() -> [String] {
            state.withLock { state in
                devices.filter { state.deviceIndex[$0] == nil }.sorted()
                    + drivers.filter { state.driverIndex[$0] == nil }.sorted()
            }
        }
        var tried = Set<String>()
        func attempt(_ path: String) {
            tried.insert(path)
            if let resolved = realpath(path, nil) {
                defer { free(resolved) }
                if state.withLock({ $0.resolvedPaths[String(cString: resolved)] != nil }) { return }
            }
            do throws(PluginLoadError) {
                report.loaded.append(try load(path: path))
            } catch {
                report.refused.append(error)
            }
        }
        // Conventional files first: a module is usually named after what it registers.
        for name in missing() {
            guard missing().contains(name),  // an earlier file may have registered it as well
                  let path = files.first(where: { $0.hasSuffix("/lib\(name).so") }), !tried.contains(path)
            else { continue }
            attempt(path)
        }
        for path in files where !tried.contains(path) {
            if missing().isEmpty { break }
            attempt(path)
        }
        report.notLoaded = files.filter { !tried.contains($0) }
        return report
    }

    /// Registers an in-process module: calls `entry` as if it were a loaded plugin's entry point, with the same
    /// validation and the same all-or-nothing commit. `moduleName` stands for the file in messages.
    @discardableResult
    public func registerStatic(moduleName: String, entry: VMHPluginEntry) throws(PluginLoadError) -> PluginModule {
        do throws(PluginLoadError) {
            return try register(moduleName: moduleName, path: nil, resolvedPath: nil, abiNote: nil, entry: entry)
        } catch {
            logger.error("\(error.description)")
            throw error
        }
    }

    // MARK: Registration

    private func register(moduleName: String, path: String?, resolvedPath: String?, abiNote: PluginABINote?,
                          entry: VMHPluginEntry) throws(PluginLoadError) -> PluginModule {
        let label = path ?? "\(moduleName) (static)"
        let session = RegistrationSession { [self] isDevice, name in
            self.state.withLock { state -> String? in
                if isDevice {
                    return state.deviceIndex[name].map { state.devices[$0].module.displayName }
                }
                return state.driverIndex[name].map { state.drivers[$0].module.displayName }
            }
        }
        let status = session.run(entry)
        let outcome = session.state.withLock { $0 }
        for refusal in outcome.refusals.dropFirst() {
            logger.error("\(label): \(refusal.reason)")
        }
        if let first = outcome.refusals.first {
            throw PluginLoadError(path: label, kind: first.kind, reason: first.reason)
        }
        if status != VMH_OK {
            throw PluginLoadError(path: label, kind: .entryPointFailed,
                                  reason: "\(ELFPluginInspector.entryName) returned \(StatusCode.describe(status)); "
                                      + "discarded the \(outcome.devices.count) device(s) and "
                                      + "\(outcome.drivers.count) driver(s) it registered")
        }
        let module = PluginModule(name: moduleName, path: path, resolvedPath: resolvedPath, abiNote: abiNote,
                                  deviceNames: outcome.devices.map(\.values.name),
                                  driverNames: outcome.drivers.map(\.values.name))
        let conflict: PluginLoadError? = state.withLock { state in
            // Re-check under the lock: another module may have committed the same names meanwhile.
            if let resolvedPath, let existing = state.resolvedPaths[resolvedPath] {
                return PluginLoadError(path: label, kind: .alreadyLoaded,
                                       reason: "already loaded (as \(existing.displayName))")
            }
            for device in outcome.devices {
                if let index = state.deviceIndex[device.values.name] {
                    return PluginLoadError(path: label, kind: .duplicateName,
                                           reason: "device '\(device.values.name)' is already registered by "
                                               + state.devices[index].module.displayName)
                }
            }
            for driver in outcome.drivers {
                if let index = state.driverIndex[driver.values.name] {
                    return PluginLoadError(path: label, kind: .duplicateName,
                                           reason: "driver '\(driver.values.name)' is already registered by "
                                               + state.drivers[index].module.displayName)
                }
            }
            for device in outcome.devices {
                let values = device.values
                state.deviceIndex[values.name] = state.devices.count
                state.devices.append(DeviceType(registration: device.registration, name: values.name,
                                                summary: values.summary, flags: values.flags, order: values.order,
                                                maxInstances: values.maxInstances, instanceSize: values.instanceSize,
                                                helperVersion: values.helperVersion, module: module))
            }
            for driver in outcome.drivers {
                let values = driver.values
                state.driverIndex[values.name] = state.drivers.count
                state.drivers.append(DriverType(registration: driver.registration, name: values.name,
                                                summary: values.summary, flags: values.flags,
                                                maxInstances: values.maxInstances, instanceSize: values.instanceSize,
                                                helperVersion: values.helperVersion, module: module))
            }
            state.modules.append(module)
            if let resolvedPath { state.resolvedPaths[resolvedPath] = module }
            return nil
        }
        if let conflict { throw conflict }
        logger.info("\(label): loaded module \(moduleName): devices [\(module.deviceNames.joined(separator: ", "))], drivers [\(module.driverNames.joined(separator: ", "))]")
        return module
    }

    /// Libraries of the host itself that the build puts next to the plugins; never plugins.
    static let hostLibraries: Set<String> = [YAMLFrontEnd.libraryName]

    /// The plugin file names in `directory` as `loadAll` sees them: every `lib*.so` but the host's own
    /// libraries, sorted bytewise. Throws the refusal (kind `.unreadable`) when the folder cannot be listed.
    public static func pluginFileNames(in directory: String) throws(PluginLoadError) -> [String] {
        guard let dir = opendir(directory) else {
            throw PluginLoadError(path: directory, kind: .unreadable,
                                  reason: "cannot list plugin directory: \(PluginFileSecurity.text(errno))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("lib"), name.hasSuffix(".so"), name.count > 6, !hostLibraries.contains(name) {
                names.append(name)
            }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// The plugin files of `directory` as paths; a folder that cannot be listed is logged and added to
    /// `refusals`, and gives none.
    private func pluginPaths(in directory: String, refusals: inout [PluginLoadError]) -> [String] {
        do throws(PluginLoadError) {
            let names = try PluginRegistry.pluginFileNames(in: directory)
            return names.map { directory.hasSuffix("/") ? directory + $0 : directory + "/" + $0 }
        } catch {
            logger.error("\(error.description)")
            refusals.append(error)
            return []
        }
    }
}
