import CVMHostABI
import PDM
import PluginTestKit
import Testing

/// Typed settings access: values, defaults, and how each typed error reaches the host.
@Suite(.serialized)
struct SDKConfigurationTests {
    private func construct(_ settings: Settings) throws(PDMError) -> PluginTestHarness {
        let h = PluginTestHarness()
        do { try h.registerStatic(moduleName: "sdk-test-plugins", entry: sdkTestEntry) } catch {
            Issue.record("registration failed: \(error)")
        }
        h.addDevice(DeviceConfig(name: "SDKConfig", settings: settings))
        try h.construct()
        return h
    }

    /// The status a failing construct returned, with the PDM's details.
    private func failure(_ settings: Settings) -> (status: Int32, details: [String])? {
        do {
            _ = try construct(settings)
            return nil
        } catch {
            guard case .constructionFailed(_, _, let status, let details) = error else { return nil }
            return (status, details)
        }
    }

    @Test func valuesAndDefaults() throws {
        let h = try construct(["number": .integer(0x1_2345_6789), "text": .string("hello")])
        #expect(h.portIn(0x730, size: 4).value == 0x2345_6789)
        #expect(h.portIn(0x731, size: 4).value == 7)
        #expect(h.portIn(0x732, size: 4).value == 0)
        #expect(h.portIn(0x733, size: 4).value == 5)
        let g = try construct(["number": .integer(-1), "small": .integer(200), "flag": .bool(true)])
        #expect(g.portIn(0x730, size: 4).value == 0xffff_ffff)
        #expect(g.portIn(0x731, size: 4).value == 200)
        #expect(g.portIn(0x732, size: 4).value == 1)
    }

    @Test func longStringsAreReadWhole() throws {
        let text = String(repeating: "abcdefghij", count: 300)  // 3000 bytes: beyond the first buffer
        let h = try construct(["number": .integer(1), "text": .string(text)])
        #expect(h.portIn(0x733, size: 4).value == 3000)
    }

    @Test func missingRequiredSettingIsNotFound() throws {
        let result = try #require(failure([:]))
        #expect(result.status == VMH_ERR_NOT_FOUND)
    }

    @Test func wrongTypeIsWrongType() throws {
        #expect(failure(["number": .string("one")])?.status == VMH_ERR_WRONG_TYPE)
        #expect(failure(["number": .integer(1), "flag": .integer(1)])?.status == VMH_ERR_WRONG_TYPE)
        #expect(failure(["number": .integer(1), "text": .bool(true)])?.status == VMH_ERR_WRONG_TYPE)
    }

    @Test func outOfRangeIsInvalidValueReportedAgainstTheKey() throws {
        let result = try #require(failure(["number": .integer(1), "small": .integer(201)]))
        #expect(result.status == VMH_ERR_INVALID_VALUE)
        #expect(result.details.contains { $0.contains("small") && $0.contains("201") })
    }

    @Test func unknownKeyIsUnknownConfigKey() throws {
        let result = try #require(failure(["number": .integer(1), "nmuber": .integer(2)]))
        #expect(result.status == VMH_ERR_UNKNOWN_CONFIG_KEY)
        #expect(result.details.contains { $0.contains("nmuber") })
    }

    @Test func constructFailureIsLoggedNamingTheSetting() throws {
        let h = PluginTestHarness()
        try h.registerStatic(moduleName: "sdk-test-plugins", entry: sdkTestEntry)
        h.addDevice(DeviceConfig(name: "SDKConfig", settings: ["small": .integer(5)]))
        #expect(throws: PDMError.self) { try h.construct() }
        let errors = h.logRecords.filter { $0.level == VMH_LOG_ERROR }.map(\.message)
        #expect(errors.contains { $0.contains("construct failed") && $0.contains("'number'") })
    }
}
