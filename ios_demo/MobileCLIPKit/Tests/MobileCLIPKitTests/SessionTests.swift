import Foundation
import XCTest
@testable import MobileCLIPKit

final class EncoderSessionTests: XCTestCase {
    /// Two screens (zero-shot and search) use one session at once: the runtime is never entered twice.
    func testTwoScreensShareOneSessionOneCallAtATime() async throws {
        let rt = FakeRuntime()
        rt.pause = true
        let session = EncoderSession(runtime: rt)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for screen in 0..<2 {
                group.addTask {
                    for i in 0..<25 {
                        let px = UInt32(screen * 100 + i + 1)
                        let e = try await session.run { try $0.embedImage(rgb: [px], width: 1, height: 1) }
                        XCTAssertEqual(e, syntheticEmbedding(seed: UInt64(px)))
                        _ = try await session.run { try $0.embedText("screen \(screen)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(rt.calls, 100)
        XCTAssertEqual(rt.maxInFlight, 1, "the runtime was entered concurrently")
    }

    /// close() during a running inference waits for it, work queued behind it is refused, the runtime is
    /// closed once and never used after; a closed session refuses new work with a clear error.
    func testCloseDuringRunningInference() async throws {
        let rt = FakeRuntime()
        let gate = DispatchSemaphore(value: 0)
        rt.gate = gate
        let session = EncoderSession(runtime: rt, name: "test")
        let running = Task { try await session.run { try $0.embedImage(rgb: [7], width: 1, height: 1) } }
        rt.entered.wait()  // the inference is running and blocked
        let queued = Task { try await session.run { try $0.embedText("queued") } }
        try await Task.sleep(nanoseconds: 50_000_000)
        let closing = Task { await session.close() }
        try await Task.sleep(nanoseconds: 50_000_000)
        XCTAssertFalse(session.isOpen)
        XCTAssertEqual(rt.closes, 0, "closed under a running call")
        gate.signal()
        let value = try await running.value
        XCTAssertEqual(value, syntheticEmbedding(seed: 7))
        await closing.value
        XCTAssertEqual(rt.closes, 1)
        XCTAssertFalse(rt.closedWhileRunning)
        do {
            _ = try await queued.value
            XCTFail("work queued behind close() ran")
        } catch MobileCLIPError.sessionClosed {}
        do {
            _ = try await session.run { try $0.embedText("late") }
            XCTFail("a closed session ran new work")
        } catch let e as MobileCLIPError {
            XCTAssertTrue("\(e)".contains("session closed: the test session was closed"), "\(e)")
        }
        XCTAssertFalse(rt.usedAfterClose)
        await session.close()  // idempotent
        XCTAssertEqual(rt.closes, 1)
    }

    func testCancelledTaskDoesNotReachTheRuntime() async throws {
        let rt = FakeRuntime()
        let session = EncoderSession(runtime: rt)
        let t = Task { () -> [Float] in
            withUnsafeCurrentTask { $0?.cancel() }
            return try await session.run { try $0.embedText("x") }
        }
        do { _ = try await t.value; XCTFail("ran") } catch is CancellationError {}
        XCTAssertEqual(rt.calls, 0)
    }
}
