@testable import PluginSDK
import Testing

/// PluginExports and the registration table, without a PDM.
@Suite struct SDKRegistrationTests {
    @Test func invalidNameIsRefusedBeforeTheHostSeesIt() {
        guard case .failure(let error) = registerWithAcceptingRegistrar([BadNameDevice.self]) else {
            Issue.record("a name starting with a digit was accepted")
            return
        }
        #expect(error.status == .invalidName)
        #expect(error.message.contains("9-starts-with-a-digit"))
    }

    @Test func twoTypesWithOneNameAreRefused() {
        guard case .failure(let error) = registerWithAcceptingRegistrar([DuplicateA.self, DuplicateB.self]) else {
            Issue.record("duplicate names were accepted")
            return
        }
        #expect(error.status == .alreadyExists)
        #expect(error.message.contains("SDKDuplicate"))
    }

    @Test func versionsComeFromTheHeader() {
        #expect(ABIVersion.abi == ABIVersion.make(magic: 0x564d, major: 1, minor: 0))
        #expect(ABIVersion.deviceHelpers == ABIVersion.make(magic: 0xa012, major: 1, minor: 2))
        #expect(ABIVersion.driverInstance == ABIVersion.make(magic: 0xa021, major: 1, minor: 0))
    }

    @Test func satisfiesFollowsTheHeaderRule() {
        let built = ABIVersion.make(magic: 0xa012, major: 1, minor: 2)
        #expect(ABIVersion.satisfies(have: ABIVersion.make(magic: 0xa012, major: 1, minor: 2), built: built))
        #expect(ABIVersion.satisfies(have: ABIVersion.make(magic: 0xa012, major: 1, minor: 5), built: built))
        #expect(!ABIVersion.satisfies(have: ABIVersion.make(magic: 0xa012, major: 1, minor: 1), built: built))
        #expect(!ABIVersion.satisfies(have: ABIVersion.make(magic: 0xa012, major: 2, minor: 9), built: built))
        #expect(!ABIVersion.satisfies(have: ABIVersion.make(magic: 0xa011, major: 1, minor: 2), built: built))
    }

    @Test func namesAreValidatedLikeTheHost() {
        for good in ["A", "Serial16550", "a-b_c", String(repeating: "x", count: 31)] {
            #expect(throws: Never.self) { try validateName(good, kind: "device") }
        }
        for bad in ["", "1abc", "-x", "has space", "ümlaut", String(repeating: "x", count: 32)] {
            #expect(throws: PluginError.self) { try validateName(bad, kind: "device") }
        }
    }
}
