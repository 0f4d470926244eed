import Testing
import VMM

@Suite struct EMTStatusTests {
    @Test func firstFailureWins() {
        let a = EMTStatus.failure(.callbackFailed("A"))
        let b = EMTStatus.failure(.callbackFailed("B"))
        #expect(EMTStatus.success.merged(with: a).merged(with: b) == a)
        #expect(a.merged(with: .info(.terminate)) == a)
    }

    @Test func failureBeatsInformational() {
        let f = EMTStatus.failure(.callbackFailed("F"))
        #expect(EMTStatus.info(.terminate).merged(with: f) == f)
    }

    @Test func mostImportantInformationalWins() {
        #expect(EMTStatus.info(.resume).merged(with: .info(.suspend)) == .info(.suspend))
        #expect(EMTStatus.info(.off).merged(with: .info(.reset)) == .info(.off))
        #expect(EMTStatus.info(.reschedule).merged(with: .success) == .info(.reschedule))
        #expect(EMTStatus.success.merged(with: .success) == .success)
    }

    @Test func informationalPartDropsFailures() {
        #expect(EMTStatus.failure(.callbackFailed("x")).informationalPart == .success)
        #expect(EMTStatus.info(.halt).informationalPart == .info(.halt))
    }
}
