import CYAML
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One libyaml event, copied out of libyaml: its strings are ranges of its batch's `text`.
struct CopiedEvent {
    /// A range of a batch's `text`; `count` is -1 for a string libyaml did not give.
    struct TextRange {
        var start: Int
        var count: Int

        static let absent = TextRange(start: 0, count: -1)
        var isAbsent: Bool { count < 0 }

        /// These bytes of `text` (none when absent).
        func bytes(in text: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: text[start ..< start + max(0, count)])
        }
    }

    var type: yaml_event_type_t
    var style: yaml_scalar_style_t
    var mark: Mark
    /// A scalar's value; an alias's anchor name.
    var value: TextRange
    var tag: TextRange
    var anchor: TextRange
}

/// Events copied out of libyaml, a batch at a time; the last batch of a stream that libyaml
/// rejected carries the failure.
struct EventBatch {
    var events: [CopiedEvent] = []
    var text: [UInt8] = []
    var failure: LibyamlFailure? = nil
    /// Whether the stream ended here (its end event, or libyaml's failure, is the last).
    var isLast = false

    /// A batch is handed over when it holds this many events or this many bytes of text.
    static let eventLimit = 4096
    static let textLimit = 64 * 1024
}

/// libyaml's parser over one input, turning its events into batches.
///
/// Not thread-safe: one thread at a time fills batches (the stream's producer).
final class EventReader {
    private let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
    private let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
    /// Whether libyaml could set up its parser (it fails only when out of memory).
    let isReady: Bool
    private let eventsPerBatch: Int
    private var finished = false

    /// A reader of `source`, which must stay valid as long as the reader reads, handing over
    /// batches of at most `eventsPerBatch` events (tests and the fuzzer make them small).
    init(_ source: UnsafeBufferPointer<UInt8>, eventsPerBatch: Int = EventBatch.eventLimit) {
        self.eventsPerBatch = max(1, eventsPerBatch)
        isReady = yaml_parser_initialize(parser) == 1
        if isReady, let base = source.baseAddress {
            yaml_parser_set_input_string(parser, base, source.count)
            yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        }
    }

    deinit {
        if isReady { yaml_parser_delete(parser) }
        parser.deallocate()
        event.deallocate()
    }

    /// Empties `batch` and fills it with the next events.
    func fill(_ batch: inout EventBatch) {
        batch.events.removeAll(keepingCapacity: true)
        batch.text.removeAll(keepingCapacity: true)
        batch.failure = nil
        while !finished, batch.events.count < eventsPerBatch, batch.text.count < EventBatch.textLimit {
            guard yaml_parser_parse(parser, event) == 1 else {
                batch.failure = LibyamlFailure(parser)
                finished = true
                break
            }
            defer { yaml_event_delete(event) }
            let e = event.pointee
            var copied = CopiedEvent(
                type: e.type, style: YAML_ANY_SCALAR_STYLE, mark: Mark(e.start_mark),
                value: .absent, tag: .absent, anchor: .absent)
            switch e.type {
            case YAML_SCALAR_EVENT:
                let data = e.data.scalar
                copied.style = data.style
                copied.value = Self.append(data.value, count: data.length, to: &batch.text)
                copied.tag = Self.append(data.tag, to: &batch.text)
                copied.anchor = Self.append(data.anchor, to: &batch.text)
            case YAML_ALIAS_EVENT:
                copied.value = Self.append(e.data.alias.anchor, to: &batch.text)
            case YAML_SEQUENCE_START_EVENT:
                copied.tag = Self.append(e.data.sequence_start.tag, to: &batch.text)
                copied.anchor = Self.append(e.data.sequence_start.anchor, to: &batch.text)
            case YAML_MAPPING_START_EVENT:
                copied.tag = Self.append(e.data.mapping_start.tag, to: &batch.text)
                copied.anchor = Self.append(e.data.mapping_start.anchor, to: &batch.text)
            case YAML_STREAM_END_EVENT:
                finished = true
            default:
                break
            }
            batch.events.append(copied)
        }
        batch.isLast = finished
    }

    private static func append(
        _ pointer: UnsafeMutablePointer<yaml_char_t>?, count: Int? = nil, to text: inout [UInt8]
    ) -> CopiedEvent.TextRange {
        guard let pointer else { return .absent }
        let length = count ?? strlen(UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))
        let start = text.count
        text.append(contentsOf: UnsafeBufferPointer(start: pointer, count: length))
        return CopiedEvent.TextRange(start: start, count: length)
    }
}

/// The events of one input, in batches: read by libyaml on a thread of its own while the
/// tree builder takes earlier batches (for a large input), or read on demand (a small one).
///
/// On two cores the tree is built while libyaml parses: `virtplace validate` of the 2.8 MiB
/// file of `bench/load` went from 0.30 s to 0.25 s of wall time (for 0.01 s more CPU, the
/// events' copy). `finish()` must be called before the input goes away: it stops the reader
/// and waits for its thread. The builder waits on a semaphore for the reader's thread, which
/// is never one of Swift's cooperative threads, so it always makes progress.
final class EventStream: @unchecked Sendable {
    // Sendable by construction: slot `i` belongs to the producer between `free.wait()` and
    // `filled.signal()`, and to the consumer between `filled.wait()` and `free.signal()`; the
    // semaphores order every access. The reader is used by the producer alone.

    /// Inputs at least this long are read on a thread of their own.
    static let threadThreshold = 256 * 1024
    private static let slotCount = 4

    private let reader: EventReader
    private var threaded = false
    private let slots: UnsafeMutablePointer<EventBatch>
    private let count: Int
    private var consumed = 0
    private var lastTaken = false
    private let filled = Semaphore(0)
    private let free: Semaphore
    private let done = Semaphore(0)
    private let stop = Atomic<Bool>(false)
    private var joined = false
    /// The producer thread, joined by `finish` so that everything it holds (this stream, the
    /// reader and libyaml's parser) is released before the input's parse returns, not moments
    /// later on the producer's own thread (which the fuzzer's leak check saw as a leak).
    private var thread: pthread_t? = nil

    /// A stream of `reader`'s events, read on a thread of its own when `threaded` (and a
    /// thread can be had).
    init(_ reader: EventReader, threaded: Bool) {
        self.reader = reader
        count = threaded ? Self.slotCount : 1
        free = Semaphore(count)
        slots = .allocate(capacity: count)
        slots.initialize(repeating: EventBatch(), count: count)
        if threaded {
            thread = startThread { [self] in produce() }
            self.threaded = thread != nil
        }
    }

    deinit {
        finish()
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// The next batch, nil after the last one; valid until the next call.
    func next() -> UnsafeMutablePointer<EventBatch>? {
        if lastTaken { return nil }
        let slot = slots + consumed % count
        if consumed > 0 && threaded { free.signal() }  // the previous batch is done with
        consumed += 1
        if threaded {
            filled.wait()
        } else {
            reader.fill(&slot.pointee)
        }
        if slot.pointee.isLast { lastTaken = true }
        return slot
    }

    /// Stops the reader and waits until its thread is done with the input.
    func finish() {
        guard threaded, !joined else { return }
        joined = true
        stop.store(true, ordering: .releasing)
        free.signal()  // the producer may be waiting for a slot
        done.wait()
        if let thread {
            self.thread = nil
            // Never join from the producer itself (it would wait for itself): there, let it go.
            if pthread_equal(thread, pthread_self()) != 0 {
                pthread_detach(thread)
            } else {
                pthread_join(thread, nil)
            }
        }
    }

    private func produce() {
        var produced = 0
        while true {
            free.wait()
            if stop.load(ordering: .acquiring) { break }
            let slot = slots + produced % count
            reader.fill(&slot.pointee)
            produced += 1
            let last = slot.pointee.isLast
            filled.signal()
            if last { break }
        }
        done.signal()
    }
}

/// A counting semaphore over a pthread mutex and condition (no Foundation or Dispatch in
/// this module).
private final class Semaphore: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: Int

    init(_ value: Int) {
        self.value = value
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    func wait() {
        pthread_mutex_lock(mutex)
        while value == 0 { pthread_cond_wait(condition, mutex) }
        value -= 1
        pthread_mutex_unlock(mutex)
    }

    func signal() {
        pthread_mutex_lock(mutex)
        value += 1
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }
}

/// Runs `body` on a new thread, to be joined (or detached) by the caller; nil when no thread
/// could be had.
private func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let started = pthread_create(&thread, nil, { argument in
        let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    guard started == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        return nil
    }
    return thread
}
