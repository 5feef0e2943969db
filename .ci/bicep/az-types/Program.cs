// dotnet run --project .ci/bicep/az-types -- <out dir> <namespace>/<api-version>...
// Writes <out dir>/<namespace>/<api-version>/types.json, the layout of ../shared/bicep-types.
using System.IO.Compression;

var assembly = typeof(Azure.Bicep.Types.Az.AzTypeLoader).Assembly;
var names = assembly.GetManifestResourceNames();
foreach (var wanted in args.Skip(1))
{
    var suffix = $"/{wanted.ToLowerInvariant()}/types.json.deflated";
    var name = names.SingleOrDefault(n => n.EndsWith(suffix, StringComparison.Ordinal))
        ?? throw new ArgumentException($"Azure.Bicep.Types.Az has no types for {wanted}");
    var dir = Path.Combine(args[0], wanted.ToLowerInvariant());
    Directory.CreateDirectory(dir);
    using var input = new DeflateStream(assembly.GetManifestResourceStream(name)!, CompressionMode.Decompress);
    using var output = File.Create(Path.Combine(dir, "types.json"));
    input.CopyTo(output);
    Console.WriteLine($"{name} -> {dir}/types.json");
}
