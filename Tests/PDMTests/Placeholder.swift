import Testing

@Test func placeholder_PDMTests() { #expect(Bool(true)) }
