import NIOHTTP1

/// The routes of the control API (see `docs/api/openapi.yaml`).
enum ControlRoute: Equatable {
    case getVM
    case patchVM
    case putAction
    case getDevices
    case getEvents

    /// Every path with the methods it accepts.
    static let table: [String: [HTTPMethod]] = [
        "/vm": [.GET, .PATCH],
        "/actions": [.PUT],
        "/devices": [.GET],
        "/events": [.GET],
    ]

    enum Resolution: Equatable {
        case route(ControlRoute)
        case notFound
        case methodNotAllowed(allowed: [HTTPMethod])
    }

    /// Resolves a request line's method and URI (query ignored, one trailing slash tolerated).
    static func resolve(method: HTTPMethod, uri: String) -> Resolution {
        var path = Substring(uri)
        if let query = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<query] }
        if path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        switch (path, method) {
        case ("/vm", .GET): return .route(.getVM)
        case ("/vm", .PATCH): return .route(.patchVM)
        case ("/actions", .PUT): return .route(.putAction)
        case ("/devices", .GET): return .route(.getDevices)
        case ("/events", .GET): return .route(.getEvents)
        default:
            guard let allowed = table[String(path)] else { return .notFound }
            return .methodNotAllowed(allowed: allowed)
        }
    }
}
