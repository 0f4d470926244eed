// The test guests (built from Tests/Guests) come from the shared TestGuestImages target.
@_exported import TestGuestImages
