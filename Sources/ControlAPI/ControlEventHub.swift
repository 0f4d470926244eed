import NIOCore
import NIOHTTP1
import Synchronization
import VMM

/// Fans events out to every `GET /events` subscriber as newline-delimited JSON.
///
/// `publish` may be called from any thread (an EMT inside a state-machine listener, EMT 0 during a walk);
/// it numbers the event, encodes it once and hands the bytes to each subscriber's event loop, all under one
/// lock so every subscriber sees the events in `seq` order. It never blocks on a client: a subscriber whose
/// socket is not writable loses events and later gets one `overflow` line saying how many.
final class ControlEventHub: Sendable {
    private final class Subscriber: Sendable {
        let channel: any Channel
        let dropped = Atomic<UInt64>(0)
        init(channel: any Channel) { self.channel = channel }
    }

    private struct State {
        var nextSeq: UInt64 = 1
        var nextID: UInt64 = 1
        var subscribers: [UInt64: Subscriber] = [:]
    }

    private let state = Mutex(State())
    private let timeline: BootTimeline

    init(timeline: BootTimeline) {
        self.timeline = timeline
    }

    /// Number of current subscribers.
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Adds `channel` (its response head is already written); returns the id for `unsubscribe`. `first` is
    /// published to this subscriber only, atomically with joining (so it sees no gap and no duplicate).
    func subscribe(_ channel: any Channel, first: (inout ControlEvent) -> Void) -> UInt64 {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            let subscriber = Subscriber(channel: channel)
            state.subscribers[id] = subscriber
            var event = ControlEvent(seq: state.nextSeq - 1, timeMs: timeline.nowMilliseconds(), type: "state")
            first(&event)
            send(line(event), to: subscriber)
            return id
        }
    }

    /// Ends every stream properly (last chunk) and closes its connection (server shutdown).
    func finishAll() {
        let channels = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return state.subscribers.values.map(\.channel)
        }
        for channel in channels {
            channel.eventLoop.execute {
                channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    func unsubscribe(_ id: UInt64) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    /// Publishes one event to every subscriber; `fill` sets its type-specific fields.
    func publish(type: String, _ fill: (inout ControlEvent) -> Void) {
        state.withLock { state in
            var event = ControlEvent(seq: state.nextSeq, timeMs: timeline.nowMilliseconds(), type: type)
            state.nextSeq += 1
            fill(&event)
            guard !state.subscribers.isEmpty else { return }
            let bytes = line(event)
            for subscriber in state.subscribers.values { send(bytes, to: subscriber) }
        }
    }

    private func line(_ event: ControlEvent) -> [UInt8] {
        var bytes = ControlJSON.encode(event)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private func send(_ bytes: [UInt8], to subscriber: Subscriber) {
        let channel = subscriber.channel
        channel.eventLoop.execute {
            guard channel.isActive else { return }
            guard channel.isWritable else {
                subscriber.dropped.add(1, ordering: .relaxed)
                return
            }
            let lost = subscriber.dropped.exchange(0, ordering: .relaxed)
            if lost > 0 {
                var overflow = ControlEvent(seq: 0, timeMs: 0, type: "overflow")
                overflow.dropped = lost
                var note = ControlJSON.encode(overflow)
                note.append(UInt8(ascii: "\n"))
                channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: note))), promise: nil)
            }
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
        }
    }
}
