import MobileCLIPKit
import SwiftUI

/// Model details and the Core ML compute units / weights selection.
struct SettingsView: View {
    @EnvironmentObject var model: DemoModel

    var body: some View {
        NavigationStack {
            Form {
                Section("Core ML") {
                    Picker("Compute units", selection: $model.computeUnits) {
                        ForEach(ComputeUnits.allCases) { Text($0.rawValue).tag($0) }
                    }
                    Picker("Weights", selection: $model.quantization) {
                        ForEach(model.quantizations, id: \.self) { Text($0).tag($0) }
                    }
                    Button("Reload models") { model.load() }
                }
                Section("Status") { Text(model.status).font(.caption) }
                if let m = model.clip?.manifest {
                    Section("Manifest") {
                        Text("embed_dim \(m.embedDim) · image \(m.preprocess.imageSize) px · context \(m.tokenizer.contextLength)")
                        ForEach(m.models.filter { $0.backend == "coreml" }, id: \.file) { e in
                            Text("\(e.tower) \(e.quantization): \(e.file) \(e.verification?.passed == true ? "verified" : "NOT verified")")
                                .font(.caption.monospaced())
                        }
                    }
                }
            }
            .navigationTitle("Model")
        }
    }
}
