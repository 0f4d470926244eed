import Testing

@Test func placeholder_VMMTests() { #expect(Bool(true)) }
