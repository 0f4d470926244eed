/// Why a port or MMIO range could not be registered.
public enum IORangeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The range overlaps one registered before; names both owners.
    case conflict(space: String, requested: String, requestedOwner: String, existing: String, existingOwner: String)
    /// Zero length, or the range wraps around the address space.
    case invalidRange(space: String, range: String, owner: String)
    /// The MMIO range overlaps guest RAM.
    case overlapsRAM(range: String, owner: String)
    /// Registration after the table was frozen (the VM already ran).
    case frozen(space: String, range: String, owner: String)

    public var description: String {
        switch self {
        case let .conflict(space, requested, requestedOwner, existing, existingOwner):
            return "\(space) range \(requested) of \(requestedOwner) conflicts with \(existing) of \(existingOwner)"
        case let .invalidRange(space, range, owner):
            return "\(owner): invalid \(space) range \(range)"
        case let .overlapsRAM(range, owner):
            return "\(owner): MMIO range \(range) overlaps guest RAM"
        case let .frozen(space, range, owner):
            return "\(owner): cannot register \(space) range \(range): I/O ranges are frozen once the VM has run"
        }
    }
}
