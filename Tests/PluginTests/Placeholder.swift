import Testing

@Test func placeholder_PluginTests() { #expect(Bool(true)) }
