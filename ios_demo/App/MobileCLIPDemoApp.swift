import SwiftUI

@main
struct MobileCLIPDemoApp: App {
    @StateObject private var model = DemoModel()

    var body: some Scene {
        WindowGroup {
            TabView {
                ZeroShotView()
                    .tabItem { Label("Zero-shot", systemImage: "tag") }
                SearchView()
                    .tabItem { Label("Search", systemImage: "magnifyingglass") }
                SettingsView()
                    .tabItem { Label("Model", systemImage: "cpu") }
            }
            .environmentObject(model)
            .task { model.load() }
        }
    }
}
