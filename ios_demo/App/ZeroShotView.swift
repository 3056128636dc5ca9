import MobileCLIPKit
import PhotosUI
import SwiftUI

/// One ranked label.
struct LabelResult: Identifiable {
    let label: String
    let hit: Ranking.Hit
    var id: String { label }
}

/// Zero-shot: a photo from the library or the camera against typed / preset labels; ranked labels with scores
/// and the latency of each inference.
struct ZeroShotView: View {
    @EnvironmentObject var model: DemoModel
    @State private var pickerItem: PhotosPickerItem?
    @State private var photo: UIImage?  // for display only: a thumbnail
    @State private var pixels: (rgb: [UInt32], width: Int, height: Int)?  // downsampled at decode, upright
    @State private var showCamera = false
    @State private var template = "a photo of a {}."
    @State private var labels = "airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck"
    @State private var results: [LabelResult] = []
    @State private var latency = ""
    @State private var textCache: [String: [Float]] = [:]

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    if let photo {
                        Image(uiImage: photo).resizable().scaledToFit().frame(maxHeight: 240)
                    }
                    HStack {
                        PhotosPicker("Library", selection: $pickerItem, matching: .images)
                        Spacer()
                        Button("Camera") { showCamera = true }
                            .disabled(!UIImagePickerController.isSourceTypeAvailable(.camera))
                    }
                }
                Section("Labels") {
                    TextField("Prompt template ({} = label)", text: $template)
                    TextField("Labels, comma separated", text: $labels, axis: .vertical).lineLimit(2...6)
                    Button("Classify", action: classify).disabled(pixels == nil || model.session == nil)
                }
                if !results.isEmpty {
                    Section("Ranked labels") {
                        ForEach(results) { r in
                            VStack(alignment: .leading) {
                                HStack {
                                    Text(r.label)
                                    Spacer()
                                    Text(String(format: "%.1f%%  cos %.3f", 100 * r.hit.probability, r.hit.score))
                                        .monospacedDigit()
                                }
                                ProgressView(value: r.hit.probability)
                            }
                        }
                    }
                }
                Section("Latency") {
                    Text(latency.isEmpty ? model.status : latency).font(.caption.monospaced())
                }
            }
            .navigationTitle("Zero-shot")
            .onChange(of: pickerItem) { item in
                Task {
                    guard let data = try? await item?.loadTransferable(type: Data.self) else { return }
                    let imageSize = model.imageSize
                    // ImageIO decodes at DecodePlan.size, off the main thread: a 48 MP photo never sits in memory
                    let decoded = await Task.detached(priority: .userInitiated) { () -> ((rgb: [UInt32], width: Int, height: Int)?, UIImage?) in
                        let px = try? PhotoDecoder.pixels(data: data, imageSize: imageSize)
                        return (px, UIImage(data: data)?.preparingThumbnail(of: CGSize(width: 480, height: 480)))
                    }.value
                    pixels = decoded.0
                    photo = decoded.1
                    if decoded.0 == nil { latency = "Cannot decode this photo" }
                    classify()
                }
            }
            .sheet(isPresented: $showCamera) {
                CameraPicker { img in
                    let imageSize = model.imageSize
                    Task {
                        // the same decode size as picked and library photos (DecodePlan), computed once
                        let decoded = await Task.detached(priority: .userInitiated) { () -> ((rgb: [UInt32], width: Int, height: Int)?, UIImage) in
                            (try? img.modelPixels(imageSize: imageSize), img.preparingThumbnail(of: CGSize(width: 480, height: 480)) ?? img)
                        }.value
                        pixels = decoded.0
                        photo = decoded.1
                        classify()
                    }
                }
            }
        }
    }

    private func classify() {
        guard let pixels else { return }
        var names: [String] = []
        for part in labels.split(whereSeparator: { $0 == "," || $0 == "\n" }) {
            let s = part.trimmingCharacters(in: .whitespaces)
            if !s.isEmpty && !names.contains(s) { names.append(s) }
        }
        guard !names.isEmpty else { return }
        let tpl = template.contains("{}") ? template : "{}"
        let cache = textCache
        guard let session = model.session else { return }
        Task { @MainActor in
            do {
                let (hits, newCache, lat) = try await session.run { clip -> ([LabelResult], [String: [Float]], String) in
                    var cache = cache
                    var textEmb: [[Float]] = []
                    for name in names {
                        let prompt = tpl.replacingOccurrences(of: "{}", with: name)
                        if cache[prompt] == nil { cache[prompt] = try clip.embed(text: prompt) }
                        textEmb.append(cache[prompt]!)
                    }
                    let img = try clip.embed(rgb: pixels.rgb, width: pixels.width, height: pixels.height)
                    let hits = Ranking.topK(img, textEmb, k: names.count, logitScale: clip.manifest.logitScale)
                    let lat = String(format: "preprocess %.1f ms\nimage tower %.1f ms (%@)\ntext tower %.1f ms (%@)",
                                     clip.preprocessLatency.last ?? .nan,
                                     clip.imageLatency.last ?? .nan, clip.imageLatency.summary,
                                     clip.textLatency.last ?? .nan, clip.textLatency.summary)
                    return (hits.map { LabelResult(label: names[$0.index], hit: $0) }, cache, lat)
                }
                results = hits
                textCache = newCache
                latency = lat
            } catch {
                latency = "\(error)"
            }
        }
    }
}
