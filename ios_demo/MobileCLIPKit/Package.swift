// swift-tools-version:5.9
// MobileCLIPKit: the testable logic of the iOS demo (tokenizer, preprocessing, ranking, manifest, Core ML wrapper).
import PackageDescription

let package = Package(
    name: "MobileCLIPKit",
    platforms: [.iOS(.v17), .macOS(.v14)],  // = the Core ML models' minimum target (iOS17)
    products: [
        .library(name: "MobileCLIPKit", targets: ["MobileCLIPKit"]),
    ],
    targets: [
        .target(
            name: "MobileCLIPKit",
            path: "Sources/MobileCLIPKit",
            resources: [.copy("Resources/text_cleanup.json")]
        ),
        .executableTarget(  // desktop search benchmark: python tests/swift_toolchain.py bench
            name: "mobileclip-search-bench",
            dependencies: ["MobileCLIPKit"],
            path: "Sources/SearchBench"
        ),
        .testTarget(
            name: "MobileCLIPKitTests",
            dependencies: ["MobileCLIPKit"],
            path: "Tests/MobileCLIPKitTests"
        ),
    ]
)
