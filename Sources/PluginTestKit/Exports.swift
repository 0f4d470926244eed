// A plugin author's test imports only PluginTestKit: the configuration types (`DeviceConfig`, `DriverConfig`,
// `Settings`), the registry and the PDM (from `PDM`) and the C ABI (`VMHCharConnector`, `VMH_*`) come with it.
@_exported import CVMHostABI
@_exported import PDM
