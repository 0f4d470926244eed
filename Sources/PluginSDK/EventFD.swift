#if canImport(Glibc)
import Glibc
#endif
import PluginSystemShim

/// A Linux eventfd (non-blocking, close-on-exec): a counter one side signals and the other drains, waitable with
/// poll. Devices bind one to a notify register (``DeviceContext/bindIOEvent(_:space:address:length:dataMatch:)``)
/// or to an interrupt line (``DeviceContext/bindIRQ(_:irq:)``), or use it to wake their own I/O thread.
public final class EventFD: @unchecked Sendable {
    /// The descriptor (owned: closed at deinit).
    public let descriptor: Int32

    /// A new eventfd with count 0.
    public init() throws(PluginError) {
        let fd = vmh_eventfd_create()
        guard fd >= 0 else { throw PluginError(.io, "eventfd() failed (errno \(-fd))") }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Adds 1 to the count (wakes a waiter). Any thread; allocates nothing.
    @inline(__always)
    public func signal() {
        _ = vmh_eventfd_signal(descriptor)
    }

    /// Reads and resets the count (0 when nothing was signalled).
    @discardableResult
    public func drain() -> UInt64 {
        let n = vmh_eventfd_drain(descriptor)
        return n > 0 ? UInt64(n) : 0
    }

    /// Waits until this or `other` is signalled, or `milliseconds` pass (-1: forever). Returns which were ready
    /// (without draining them).
    public func wait(orOther other: EventFD? = nil, milliseconds: Int32) -> (this: Bool, other: Bool) {
        var fds = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: other?.descriptor ?? -1, events: Int16(POLLIN), revents: 0)]
        let n = poll(&fds, other == nil ? 1 : 2, milliseconds)
        guard n > 0 else { return (false, false) }
        return (fds[0].revents & Int16(POLLIN) != 0, fds[1].revents & Int16(POLLIN) != 0)
    }
}
