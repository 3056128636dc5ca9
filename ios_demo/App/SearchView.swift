import MobileCLIPKit
import Photos
import SwiftUI

/// Text search over photos: index the bundled sample photos or the photo library with the image tower, then
/// type a query; best matches with cosine scores and latency.
struct SearchView: View {
    @EnvironmentObject var model: DemoModel
    @State private var thumbs: [UIImage] = []  // small thumbnails only (thumbSide), never the photos
    @State private var embeddings: [[Float]] = []
    @State private var hits: [Ranking.Hit] = []
    @State private var query = ""
    @State private var info = ""
    @State private var indexing = false

    private let maxLibraryPhotos = 300
    private let thumbSide = 200  // pixels: 300 thumbnails ~ 48 MB
    private let columns = [GridItem(.adaptive(minimum: 100), spacing: 4)]

    var body: some View {
        NavigationStack {
            VStack(spacing: 8) {
                HStack {
                    Button("Index bundled photos") { index(bundled()) }
                    Spacer()
                    Button("Index library", action: indexLibrary)
                }
                .disabled(indexing || model.session == nil)
                if indexing { ProgressView() }
                HStack {
                    TextField("Describe a photo", text: $query).textFieldStyle(.roundedBorder).onSubmit(search)
                    Button("Search", action: search).disabled(embeddings.isEmpty)
                }
                Text(info.isEmpty ? model.status : info).font(.caption.monospaced()).frame(maxWidth: .infinity, alignment: .leading)
                ScrollView {
                    LazyVGrid(columns: columns, spacing: 4) {
                        ForEach(Array(hits.enumerated()), id: \.offset) { rank, hit in
                            VStack {
                                Image(uiImage: thumbs[hit.index]).resizable().scaledToFill()
                                    .frame(width: 100, height: 100).clipped()
                                Text(String(format: "#%d cos %.3f", rank + 1, hit.score)).font(.caption2.monospaced())
                            }
                        }
                    }
                }
            }
            .padding()
            .navigationTitle("Search")
        }
    }

    private func bundled() -> [UIImage] {
        let urls = Bundle.main.urls(forResourcesWithExtension: "png", subdirectory: "SamplePhotos") ?? []
        return urls.sorted { $0.lastPathComponent < $1.lastPathComponent }.compactMap { UIImage(contentsOfFile: $0.path) }
    }

    private func indexLibrary() {
        PHPhotoLibrary.requestAuthorization(for: .readWrite) { status in
            guard status == .authorized || status == .limited else {
                Task { @MainActor in info = "Photo library access denied" }
                return
            }
            let options = PHFetchOptions()
            options.sortDescriptors = [NSSortDescriptor(key: "creationDate", ascending: false)]
            options.fetchLimit = maxLibraryPhotos
            let assets = PHAsset.fetchAssets(with: .image, options: options)
            Task { @MainActor in indexAssets(assets) }
        }
    }

    /// One photo at a time on the inference queue: request it at twice the model input, embed it, keep only a
    /// small thumbnail. Memory stays bounded by one decoded photo plus the thumbnails.
    private func indexAssets(_ assets: PHFetchResult<PHAsset>) {
        guard assets.count > 0 else { info = "No photos to index"; return }
        let side = CGFloat(model.decodeShortSide), thumb = thumbSide
        run { session in
            let manager = PHImageManager.default()
            let request = PHImageRequestOptions()
            request.isSynchronous = true  // we are on the inference queue, one request at a time
            request.deliveryMode = .highQualityFormat
            request.resizeMode = .fast
            request.isNetworkAccessAllowed = false
            var out: [[Float]] = [], small: [UIImage] = []
            for i in 0..<assets.count {
                try autoreleasepool {
                    var photo: UIImage?
                    manager.requestImage(for: assets.object(at: i), targetSize: CGSize(width: side, height: side),
                                         contentMode: .aspectFill, options: request) { img, _ in photo = img }
                    guard let photo else { return }
                    let (rgb, w, h) = try photo.rgbPixels()
                    out.append(try session.embed(rgb: rgb, width: w, height: h))
                    small.append(photo.downsampled(shortSide: thumb))
                }
            }
            return (out, small)
        }
    }

    private func index(_ images: [UIImage]) {
        guard !images.isEmpty else { info = "No photos to index"; return }
        let thumb = thumbSide
        run { session in
            var out: [[Float]] = [], small: [UIImage] = []
            for img in images {
                let (rgb, w, h) = try img.rgbPixels()
                out.append(try session.embed(rgb: rgb, width: w, height: h))
                small.append(img.downsampled(shortSide: thumb))
            }
            return (out, small)
        }
    }

    private func run(_ work: @escaping (ClipSession) throws -> ([[Float]], [UIImage])) {
        indexing = true
        hits = []
        model.run({ session -> ([[Float]], [UIImage], String) in
            let (emb, small) = try work(session)
            return (emb, small, "Indexed \(emb.count) photos · image tower \(session.imageLatency.summary)")
        }, done: { result in
            indexing = false
            switch result {
            case .success(let (emb, small, text)):
                embeddings = emb
                thumbs = small
                info = text
            case .failure(let error):
                info = "\(error)"
            }
        })
    }

    private func search() {
        let q = query.trimmingCharacters(in: .whitespaces)
        guard !q.isEmpty, !embeddings.isEmpty else { return }
        let gallery = embeddings
        model.run({ session -> ([Ranking.Hit], String) in
            let t = try session.embed(text: q)
            let t0 = Date()
            let top = Ranking.topK(t, gallery, k: 24, logitScale: session.manifest.logitScale)
            let rankMs = Date().timeIntervalSince(t0) * 1000
            return (top, String(format: "text tower %.1f ms (%@) · ranking %d photos %.2f ms",
                                session.textLatency.last ?? .nan, session.textLatency.summary, gallery.count, rankMs))
        }, done: { result in
            switch result {
            case .success(let (top, text)):
                hits = top
                info = text
            case .failure(let error):
                info = "\(error)"
            }
        })
    }
}
