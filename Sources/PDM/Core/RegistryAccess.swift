import CVMHostABI

/// The only place the PDM core reads the plugin registry: keeps it independent of the registry's other API.
extension PluginRegistry {
    func deviceRegistration(named name: String) -> UnsafePointer<VMHDeviceReg>? {
        device(named: name)?.registration
    }

    func driverRegistration(named name: String) -> UnsafePointer<VMHDriverReg>? {
        driver(named: name)?.registration
    }
}
