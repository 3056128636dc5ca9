import MobileCLIPKit
import Photos
import SwiftUI

/// Text search over photos: index the bundled sample photos or the photo library (saved, updated
/// incrementally, cancellable, "n / N"), then type a query. A search runs on the index snapshot of that
/// moment, also while indexing goes on (results refresh as photos arrive); hits name photos by id, so a
/// re-index with fewer photos cannot send a result to the wrong or a missing thumbnail.
struct SearchView: View {
    @EnvironmentObject var model: DemoModel
    @StateObject private var index = LibraryIndexModel()
    @State private var hits: [SearchHit] = []
    @State private var query = ""
    @State private var info = ""
    @State private var searching = false

    private let columns = [GridItem(.adaptive(minimum: 100), spacing: 4)]

    var body: some View {
        NavigationStack {
            VStack(spacing: 8) {
                HStack {
                    Button("Index bundled photos") { index.indexBundled(model) }
                    Spacer()
                    Button("Index library") { index.indexLibrary(model) }
                }
                .disabled(index.indexing || model.session == nil)
                if index.indexing {
                    HStack {
                        ProgressView()
                        Text(index.progress).monospacedDigit()
                        if let d = index.download { Text(String(format: "iCloud %.0f%%", 100 * d)).font(.caption) }
                        Spacer()
                        Button("Cancel", role: .cancel) { index.cancel() }
                    }
                }
                if index.limitedAccess && index.photos == .library && !index.indexing {
                    Button("Select more photos…") { index.selectMorePhotos(model) }
                }
                HStack {
                    TextField("Describe a photo", text: $query).textFieldStyle(.roundedBorder).onSubmit(search)
                    Button("Search", action: search).disabled((index.snapshot?.count ?? 0) == 0 || model.session == nil)
                }
                Text(info.isEmpty ? (index.note.isEmpty ? model.status : index.note) : info)
                    .font(.caption.monospaced()).frame(maxWidth: .infinity, alignment: .leading)
                ScrollView {
                    LazyVGrid(columns: columns, spacing: 4) {
                        ForEach(Array(hits.enumerated()), id: \.offset) { rank, hit in
                            VStack {
                                Thumbnail(id: hit.id, photos: index.photos, bundled: index.bundled)
                                    .frame(width: 100, height: 100).clipped()
                                Text(String(format: "#%d cos %.3f", rank + 1, hit.score)).font(.caption2.monospaced())
                            }
                        }
                    }
                }
            }
            .padding()
            .navigationTitle("Search")
            .onChange(of: index.snapshot?.count) { _ in
                if !query.isEmpty && !searching { search() }  // results as photos arrive
            }
        }
    }

    private func search() {
        let q = query.trimmingCharacters(in: .whitespaces)
        guard !q.isEmpty, let session = model.session, let snap = index.snapshot, snap.count > 0 else { return }
        searching = true
        Task { @MainActor in
            do {
                let (top, text) = try await session.run { clip -> ([SearchHit], String) in
                    let t = try clip.embed(text: q)
                    let t0 = Date()
                    let top = snap.search(t, k: 24)
                    let rankMs = Date().timeIntervalSince(t0) * 1000
                    return (top, String(format: "text tower %.1f ms (%@) · top-24 of %d photos %.2f ms",
                                        clip.textLatency.last ?? .nan, clip.textLatency.summary, snap.count, rankMs))
                }
                hits = top
                info = text
            } catch {
                info = "\(error)"
            }
            searching = false
        }
    }
}

/// A small thumbnail of one photo, by id, requested when shown (no thumbnail array to fall out of step with
/// the index); a photo deleted meanwhile shows a placeholder.
struct Thumbnail: View {
    let id: String
    let photos: LibraryIndexModel.Photos
    let bundled: BundledPhotoSource
    @State private var image: UIImage?

    var body: some View {
        Group {
            if let image {
                Image(uiImage: image).resizable().scaledToFill()
            } else {
                Rectangle().fill(.gray.opacity(0.2))
            }
        }
        .task(id: id) { image = await load() }
    }

    private func load() async -> UIImage? {
        if photos == .bundled { return bundled.images[id]?.preparingThumbnail(of: CGSize(width: 200, height: 200)) }
        guard let asset = PHAsset.fetchAssets(withLocalIdentifiers: [id], options: nil).firstObject else { return nil }
        let options = PHImageRequestOptions()
        options.deliveryMode = .highQualityFormat
        options.resizeMode = .fast
        options.isNetworkAccessAllowed = true
        return await withCheckedContinuation { (done: CheckedContinuation<UIImage?, Never>) in
            PHImageManager.default().requestImage(for: asset, targetSize: CGSize(width: 200, height: 200),
                                                  contentMode: .aspectFill, options: options) { img, _ in
                done.resume(returning: img)
            }
        }
    }
}
