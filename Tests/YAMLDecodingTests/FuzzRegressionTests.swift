import Foundation
import Testing
@testable import YAMLDecoding

/// Inputs that once broke (or could break) the parser or the decoder, replayed through both:
/// each must give a value or sorted, located diagnostics, and never crash or hang.
@Suite struct FuzzRegressionTests {
    static let directory = Bundle.module.resourceURL?.appendingPathComponent("Fixtures/fuzz")

    static let inputs: [String] = {
        guard let directory else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }()

    @Test func theCorpusIsThere() {
        #expect(Self.inputs.count >= 10)
    }

    @Test(arguments: inputs)
    func replay(_ name: String) throws {
        let url = try #require(Self.directory?.appendingPathComponent(name))
        let bytes = [UInt8](try Data(contentsOf: url))
        let decoder = YAMLNodeDecoder()
        for result in [
            decoder.decodeDocuments(AnyValue.self, from: bytes, file: name).diagnostics,
            decoder.decodeDocuments(Placement.self, from: bytes, file: name).diagnostics,
        ] {
            #expect(result == Diagnostic.sortedUnique(result))
            for diagnostic in result {
                #expect(diagnostic.file == name)
                #expect((diagnostic.line == 0) == (diagnostic.column == 0))
            }
        }
    }

    @Test func deepNestingFailsCleanly() {
        #expect(parseErrors(String(repeating: "[", count: 5000)).first?.hasSuffix("nesting deeper than 64 levels") == true)
    }

    @Test func manyBlankLinesWithTabsNeedMoreRepairsThanAllowed() {
        var text = ""
        for index in 0..<40 { text += "k\(index): 1\n\t\n" }
        #expect(parseErrors(text) == ["test.yaml:66:1: error: tab character where YAML needs a space"])
    }

    @Test func manySurrogatePairsInJSONNeedOneRepair() throws {
        var text = "{"
        for index in 0..<200 { text += "\"k\(index)\": \"\\ud83d\\ude00\"," }
        text += "\"end\": 1}"
        let root = try #require(try parse(text, file: "x.json").first)
        #expect(root["k199"]?.scalarValue == "😀")
        // Columns are as written, although each pair was rewritten two characters shorter.
        let written = try #require(text.range(of: "\"end\""))
        #expect(root.pairs?.last?.key.column == text.distance(from: text.startIndex, to: written.lowerBound) + 1)
    }
}
