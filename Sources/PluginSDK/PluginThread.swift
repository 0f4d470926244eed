#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain detached threads and sleeps for plugin work (e.g. finishing an async power operation), without
/// Foundation or Swift concurrency. A plugin thread may only call ``AsyncCompletion/complete()`` and the plugin's
/// own code: no other host helper.
public enum PluginThread {
    /// Starts `body` on a new detached thread.
    public static func detach(_ body: @escaping @Sendable () -> Void) throws(PluginError) {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            box.body()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw PluginError(.noMemory, "creating a plugin thread failed (errno \(status))")
        }
        pthread_detach(thread)
    }

    /// Sleeps the calling thread for `milliseconds` (resuming after signals until the time has passed).
    public static func sleep(milliseconds: Int64) {
        guard milliseconds > 0 else { return }
        var request = timespec(tv_sec: Int(milliseconds / 1000), tv_nsec: Int(milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR {
            request = remaining
        }
    }
}
