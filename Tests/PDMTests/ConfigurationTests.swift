import PDM
import Testing

@Suite struct ConfigurationTests {
    @Test func parsesFullYAML() throws {
        let yaml = """
        plugin-paths: [/opt/vmhost/plugins, ./build]
        pdm: {async-deadline-ms: 5000}
        machine: {cpus: 2, memory-mib: 256, kernel: guest.elf, cmdline: "cpus=2 mode=pio"}
        devices:
          - name: Serial16550
            order: 50
            settings: {iobase: 0x3f8, irq: 4, verbose: true, label: com1, quoted: "0x10"}
            luns:
              - driver:
                  name: AsyncDelay
                  settings: {delay-ms: 300}
                  below: {name: Stdio, settings: {stream: stderr}}
              - lun: 3
                driver: {name: Probe}
          - name: DebugExit
        """
        let config = try VMConfiguration(yaml: yaml)
        #expect(config.pluginPaths == ["/opt/vmhost/plugins", "./build"])
        #expect(config.pdm.asyncDeadlineMilliseconds == 5000)
        #expect(config.machine == MachineSettings(cpus: 2, memoryMiB: 256, kernel: "guest.elf", cmdline: "cpus=2 mode=pio"))
        #expect(config.devices.count == 2)
        let serial = config.devices[0]
        #expect(serial.order == 50)
        #expect(serial.settings["iobase"] == .integer(0x3f8))
        #expect(serial.settings["irq"] == .integer(4))
        #expect(serial.settings["verbose"] == .bool(true))
        #expect(serial.settings["label"] == .string("com1"))
        #expect(serial.settings["quoted"] == .string("0x10"))
        #expect(serial.luns.map(\.lun) == [0, 3])
        #expect(serial.luns[0].driver.chainTopToBottom.map(\.name) == ["AsyncDelay", "Stdio"])
        #expect(serial.luns[0].driver.below?.settings["stream"] == .string("stderr"))
        #expect(config.devices[1] == DeviceConfig(name: "DebugExit"))
    }

    @Test func jsonIsAccepted() throws {
        let config = try VMConfiguration(yaml: #"{"devices": [{"name": "Probe", "settings": {"luns": 2}}]}"#)
        #expect(config.devices == [DeviceConfig(name: "Probe", settings: ["luns": .integer(2)])])
        #expect(config.pdm.asyncDeadlineMilliseconds == 30_000)
    }

    @Test(arguments: [
        ("devices:\n  - name: A\n  - name: B\n    luns:\n      - driver:\n          name: D\n          below:\n            name: E\n            settings: {path: [1, 2]}\n",
         "devices[1].luns[0].driver.below.settings.path: expected a string, integer or bool, got a list"),
        ("devices:\n  - name: A\n    settings: {irq: {a: 1}}\n", "devices[0].settings.irq: expected a string, integer or bool, got a map"),
        ("devices:\n  - name: A\n    colour: red\n", "devices[0].colour: unknown key"),
        ("devices:\n  - settings: {}\n", "devices[0].name: missing (the device's registration name)"),
        ("devices:\n  - name: 9lives\n", "devices[0].name: '9lives' is not a valid name ([A-Za-z][A-Za-z0-9_-]*, at most 31 characters)"),
        ("pdm: {async-deadline-ms: soon}\n", "pdm.async-deadline-ms: expected an integer, got a string"),
        ("machine: {cpus: [1]}\n", "machine.cpus: expected an integer, got a list"),
        ("plugin-paths: [a, [b]]\n", "plugin-paths[1]: expected a string, got a list"),
        ("devices: {name: A}\n", "devices: expected a list, got a map"),
        ("devices:\n  - name: A\n    luns:\n      - driver: {name: B}\n      - lun: 0\n        driver: {name: C}\n",
         "devices[0].luns[1]: LUN 0 is configured twice"),
        ("devices:\n  - name: A\n    luns:\n      - lun: 1\n", "devices[0].luns[0].driver: missing (the top driver of this LUN)"),
        ("frobnicate: 1\n", "frobnicate: unknown key"),
    ])
    func errorsNameTheKeyPath(yaml: String, expected: String) {
        do {
            _ = try VMConfiguration(yaml: yaml)
            Issue.record("expected an error: \(expected)")
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test func commandLineDevice() throws {
        let device = try DeviceConfig(commandLine: "Serial16550,iobase=0x3f8,irq=4,name=com1,on=true,order=7,lun0=AsyncDelay(delay-ms=300,mode=x)/Stdio(stream=stderr),lun2=Probe")
        #expect(device.name == "Serial16550")
        #expect(device.order == 7)
        #expect(device.settings == ["iobase": .integer(0x3f8), "irq": .integer(4), "name": .string("com1"), "on": .bool(true)])
        #expect(device.luns.map(\.lun) == [0, 2])
        #expect(device.luns[0].driver == DriverConfig(name: "AsyncDelay", settings: ["delay-ms": .integer(300), "mode": .string("x")],
                                                      below: DriverConfig(name: "Stdio", settings: ["stream": .string("stderr")])))
        #expect(device.luns[1].driver == DriverConfig(name: "Probe"))
    }

    @Test(arguments: [
        ("", "--device[0]: '' must start with a device name ([A-Za-z][A-Za-z0-9_-]*)"),
        ("Probe,luns", "--device[0]: 'luns' is not key=value"),
        ("Probe,a=1,a=2", "--device[0].a: duplicate key"),
        ("Probe,lun0=A(x=1", "--device[0]: unbalanced '(' in 'Probe,lun0=A(x=1'"),
        ("Probe,order=-1", "--device[0].order: expected an integer 0…4294967295, got '-1'"),
    ])
    func commandLineErrors(argument: String, expected: String) {
        do {
            _ = try DeviceConfig(commandLine: argument)
            Issue.record("expected an error: \(expected)")
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test func integerSyntax() {
        #expect(SettingValue.parseInteger("0x1F") == 31)
        #expect(SettingValue.parseInteger("-12") == -12)
        #expect(SettingValue.parseInteger("1_000") == 1000)
        #expect(SettingValue.parseInteger("0x") == nil)
        #expect(SettingValue.parseInteger("12a") == nil)
        #expect(SettingValue.parseInteger("9223372036854775808") == nil)
        #expect(SettingValue.inferred(from: "false") == .bool(false))
    }
}
