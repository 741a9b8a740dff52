import Atomistics
import Foundation

/// A checkpoint written by `Files.writeJSON`: nil when there is none, an error naming it when it
/// cannot be read (shared by `fit` and `uq`).
func loadCheckpoint<State: Decodable>(_ type: State.Type, from url: URL) throws -> State? {
    guard let data = try? Data(contentsOf: url) else { return nil }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    do { return try decoder.decode(State.self, from: data) } catch {
        throw UnreadableCheckpoint(path: url.path, reason: Files.describe(error))
    }
}

/// A checkpoint that exists but cannot be read: the caller words it for how the user asked to
/// resume.
public struct UnreadableCheckpoint: Error {
    public var path: String
    public var reason: String
}

/// A resumed campaign whose file, or a file it names, changed since it was interrupted
/// (the caller words the message: it knows how the user asked to resume).
public struct ChangedCampaign: Error {
    public init() {}
}
