import Glibc

/// Runs `body(i)` for i in 0..<count on `count` separate pthreads and joins them all (the storm clients must
/// really run at once; a cooperative or dispatch pool could serialise them on 2 cores).
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable (Int) -> Void
        let index: Int
        init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) {
            self.body = body
            self.index = index
        }
    }
    var threads: [pthread_t] = []
    for i in 0..<count {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body, i)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body(box.index)
            return nil
        }, box)
        if rc == 0 { threads.append(thread) } else { Unmanaged<Box>.fromOpaque(box).release() }
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// A fresh private directory (mode 0700) under /tmp for one test's socket.
func makePrivateDirectory() -> String {
    var template = Array("/tmp/vmhost-api-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let base = buffer.baseAddress, let made = mkdtemp(base) else { return "/tmp" }
        return String(cString: made)
    }
    return path
}

/// Removes the directory made by `makePrivateDirectory` and what is in it (one level).
func removeDirectory(_ path: String) {
    guard path != "/tmp", let dir = opendir(path) else { return }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name != "." && name != ".." { unlink(path + "/" + name) }
    }
    closedir(dir)
    rmdir(path)
}
