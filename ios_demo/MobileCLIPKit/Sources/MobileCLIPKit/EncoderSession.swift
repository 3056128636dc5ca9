import Foundation

/// What an encoder session runs: an opened model (Core ML's `ClipSession` on iOS; fakes in the tests).
/// Its methods are called from one thread at a time only (the session's queue), never concurrently.
public protocol EncoderRuntime: AnyObject {
    func embedImage(rgb: [UInt32], width: Int, height: Int) throws -> [Float]
    func embedText(_ caption: String) throws -> [Float]
    /// Releases the model. Called once, on the session's queue, never while a call runs.
    func close()
}

/// Owns one runtime on one serial queue: every call (and the close) runs there, one at a time, so a runtime
/// that is not thread-safe is never entered twice and never closed under a running call. Screens share one
/// session; `close()` refuses new work at once, lets the running call finish, then closes the runtime; work
/// still queued behind it fails with `MobileCLIPError.sessionClosed` instead of touching a closed model.
public final class EncoderSession<Runtime: EncoderRuntime>: @unchecked Sendable {
    private let queue: DispatchQueue
    private var runtime: Runtime?  // read and written on `queue` only
    private let lock = NSLock()
    private var accepting = true  // under `lock`
    public let name: String

    public init(runtime: Runtime, name: String = "model") {
        self.runtime = runtime
        self.name = name
        queue = DispatchQueue(label: "mobileclipkit.encoder-session.\(name)", qos: .userInitiated)
    }

    /// Loads the runtime (e.g. compiles and opens the Core ML towers) and wraps it.
    public static func open(name: String = "model", _ load: () async throws -> Runtime) async throws -> EncoderSession {
        EncoderSession(runtime: try await load(), name: name)
    }

    /// False from the moment `close()` is called.
    public var isOpen: Bool {
        lock.lock()
        defer { lock.unlock() }
        return accepting
    }

    private func stopAccepting() {
        lock.lock()
        accepting = false
        lock.unlock()
    }

    private func refused() -> MobileCLIPError {
        .sessionClosed("the \(name) session was closed (the model was reloaded or the app is shutting down)")
    }

    /// Runs `work` on the session's queue with the runtime; a cancelled task or a closed session throws
    /// before the runtime is touched.
    public func run<T>(_ work: @escaping (Runtime) throws -> T) async throws -> T {
        try Task.checkCancellation()
        guard isOpen else { throw refused() }
        return try await withCheckedThrowingContinuation { (done: CheckedContinuation<T, Error>) in
            queue.async {
                guard self.isOpen, let rt = self.runtime else { return done.resume(throwing: self.refused()) }
                done.resume(with: Result { try work(rt) })
            }
        }
    }

    /// Stops accepting work, waits for the running call, closes the runtime. Idempotent.
    public func close() async {
        stopAccepting()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async {
                self.runtime?.close()
                self.runtime = nil
                done.resume()
            }
        }
    }
}
