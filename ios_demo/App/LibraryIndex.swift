import MobileCLIPKit
import Photos
import UIKit

/// Library photos for the indexer: the size from the asset (no pixels), then the photo from Photos at the
/// planned size. iCloud-only photos are downloaded (`isNetworkAccessAllowed`), with progress, not skipped.
final class PhotoLibrarySource: PhotoSource {
    private let assets: [String: PHAsset]
    private let onDownload: @Sendable (Double) -> Void

    init(assets: [PHAsset], onDownload: @escaping @Sendable (Double) -> Void) {
        self.assets = Dictionary(assets.map { ($0.localIdentifier, $0) }, uniquingKeysWith: { a, _ in a })
        self.onDownload = onDownload
    }

    private func asset(_ photo: PhotoRecord) throws -> PHAsset {
        guard let a = assets[photo.id] else { throw MobileCLIPError.badImage("photo \(photo.id) is gone") }
        return a
    }

    func size(of photo: PhotoRecord) async throws -> (width: Int, height: Int) {
        let a = try asset(photo)
        return (a.pixelWidth, a.pixelHeight)
    }

    func decode(_ photo: PhotoRecord, size: (width: Int, height: Int)) async throws -> DecodedPhoto {
        let a = try asset(photo)
        let options = PHImageRequestOptions()
        options.deliveryMode = .highQualityFormat  // one result
        options.resizeMode = .exact
        options.isNetworkAccessAllowed = true  // iCloud photos: downloaded, progress shown
        let report = onDownload
        options.progressHandler = { progress, _, _, _ in report(progress) }
        let manager = PHImageManager.default()
        let request = RequestID()
        let image: UIImage = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<UIImage, Error>) in
                let id = manager.requestImage(for: a, targetSize: CGSize(width: size.width, height: size.height),
                                              contentMode: .aspectFit, options: options) { image, info in
                    if let image {
                        done.resume(returning: image)
                    } else if (info?[PHImageCancelledKey] as? Bool) == true {
                        done.resume(throwing: CancellationError())
                    } else {
                        let why = (info?[PHImageErrorKey] as? Error).map { "\($0)" } ?? "Photos returned no image"
                        done.resume(throwing: MobileCLIPError.badImage(why))
                    }
                }
                request.set(id)
            }
        } onCancel: {
            request.cancel(manager)
        }
        let px = try autoreleasepool { try image.rgbPixels() }
        return DecodedPhoto(rgb: px.rgb, width: px.width, height: px.height)
    }
}

/// A Photos request id shared with the cancellation handler.
private final class RequestID: @unchecked Sendable {
    private let lock = NSLock()
    private var id = PHInvalidImageRequestID

    func set(_ value: PHImageRequestID) {
        lock.lock()
        id = value
        lock.unlock()
    }

    func cancel(_ manager: PHImageManager) {
        lock.lock()
        let value = id
        lock.unlock()
        if value != PHInvalidImageRequestID { manager.cancelImageRequest(value) }
    }
}

/// The bundled sample photos (ids = file names), decoded at the same planned size as library photos.
final class BundledPhotoSource: PhotoSource {
    let images: [String: UIImage]

    init() {
        let urls = Bundle.main.urls(forResourcesWithExtension: "png", subdirectory: "SamplePhotos") ?? []
        var out: [String: UIImage] = [:]
        for u in urls { out[u.lastPathComponent] = UIImage(contentsOfFile: u.path) }
        images = out
    }

    var records: [PhotoRecord] { images.keys.sorted().map { PhotoRecord(id: $0, modified: 0) } }

    private func image(_ photo: PhotoRecord) throws -> UIImage {
        guard let img = images[photo.id] else { throw MobileCLIPError.badImage("no sample \(photo.id)") }
        return img
    }

    func size(of photo: PhotoRecord) async throws -> (width: Int, height: Int) { try image(photo).pixelSize }

    func decode(_ photo: PhotoRecord, size: (width: Int, height: Int)) async throws -> DecodedPhoto {
        let px = try image(photo).downsampled(to: size).rgbPixels()
        return DecodedPhoto(rgb: px.rgb, width: px.width, height: px.height)
    }
}

/// The Search tab's index: which photos, the snapshot that searches use, progress, cancel. The index of the
/// library is saved (Application Support, not backed up) and updated incrementally on the next visit.
@MainActor
final class LibraryIndexModel: ObservableObject {
    enum Photos { case none, bundled, library }

    @Published private(set) var snapshot: PhotoIndex?  // what a search uses: a consistent copy
    @Published private(set) var indexing = false
    @Published private(set) var progress = ""  // "n / N"
    @Published private(set) var download: Double?  // iCloud download of the current photo
    @Published private(set) var limitedAccess = false
    @Published private(set) var photos = Photos.none
    @Published var note = ""
    let bundled = BundledPhotoSource()
    private var task: Task<Void, Never>?
    private var generation = 0  // the current run; late messages of an older run are dropped

    static func indexURL() throws -> URL {
        var dir = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                              appropriateFor: nil, create: true)
            .appendingPathComponent("MobileCLIPKit", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true  // rebuilt from the library when missing
        try? dir.setResourceValues(values)
        return dir.appendingPathComponent("library.index")
    }

    func indexBundled(_ model: DemoModel) {
        photos = .bundled
        run(model, library: bundled.records, source: bundled, store: nil)
    }

    func indexLibrary(_ model: DemoModel) {
        Task {
            let status = await PHPhotoLibrary.requestAuthorization(for: .readWrite)
            guard status == .authorized || status == .limited else {
                note = "Photo library access denied: allow it in Settings › Privacy › Photos"
                return
            }
            limitedAccess = status == .limited
            let options = PHFetchOptions()
            options.sortDescriptors = [NSSortDescriptor(key: "creationDate", ascending: false)]
            let fetched = PHAsset.fetchAssets(with: .image, options: options)
            var assets: [PHAsset] = []
            assets.reserveCapacity(fetched.count)
            fetched.enumerateObjects { a, _, _ in assets.append(a) }
            let records = assets.map {
                PhotoRecord(id: $0.localIdentifier,
                            modified: ($0.modificationDate ?? $0.creationDate ?? .distantPast).timeIntervalSince1970)
            }
            let source = PhotoLibrarySource(assets: assets) { p in
                Task { @MainActor in self.download = p < 1 ? p : nil }
            }
            do {
                photos = .library
                run(model, library: records, source: source, store: PhotoIndexStore(url: try Self.indexURL()))
            } catch {
                note = "Cannot store the index: \(error)"
            }
        }
    }

    /// With limited access: the system picker to add photos, then the index is updated.
    func selectMorePhotos(_ model: DemoModel) {
        guard let root = UIApplication.shared.connectedScenes.compactMap({ $0 as? UIWindowScene })
            .flatMap(\.windows).first(where: \.isKeyWindow)?.rootViewController else { return }
        Task {
            _ = await PHPhotoLibrary.shared().presentLimitedLibraryPicker(from: root)
            indexLibrary(model)
        }
    }

    func cancel() { task?.cancel() }

    private func run(_ model: DemoModel, library: [PhotoRecord], source: PhotoSource, store: PhotoIndexStore?) {
        guard let session = model.session, let fingerprint = model.indexFingerprint else {
            note = "Models not loaded"
            return
        }
        let previous = task
        previous?.cancel()
        let indexer = PhotoIndexer(session: session, source: source, imageSize: model.imageSize, store: store)
        let dim = model.embedDim
        indexing = true
        generation += 1
        let run = generation
        task = Task {
            // the cancelled run saves what it indexed on its way out: wait for that save before reading the file,
            // so two runs never write the index at once (a late save of the old run would roll the new one back)
            _ = await previous?.value
            let start = store?.load(fingerprint: fingerprint, dim: dim)
                ?? (index: PhotoIndex(fingerprint: fingerprint, dim: dim), reused: false, note: "")
            guard run == generation else { return }  // a newer run was started while this one waited
            snapshot = start.index.count > 0 ? start.index : nil
            note = start.note
            var result = "", finished: PhotoIndex?
            do {
                finished = try await indexer.update(start.index, library: library) { p in
                    let text = p.text, publish = p.done % 25 == 0 || p.done == p.total
                    let snap = publish ? p.snapshot : nil
                    Task { @MainActor in
                        guard self.indexing, run == self.generation else { return }
                        self.progress = text
                        if let snap { self.snapshot = snap }
                    }
                }
                result = "Indexed \(finished?.count ?? 0) photos"
            } catch is CancellationError {
                result = "Cancelled: the photos indexed so far are kept"
            } catch {
                result = "\(error)"
            }
            guard run == generation else { return }  // a newer run owns the screen
            if let finished { snapshot = finished }
            note = result
            indexing = false
            download = nil
        }
    }
}
