using System.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace SmbLayer.Benchmarks;

/// <summary>
/// The whole read path (SmbClient → SmbFileStream → SmbOpen → SmbConnection) against a private
/// Samba on 127.0.0.1 (scripts/samba-server.sh; needs root). One operation reads a 256 MiB file
/// from tmpfs; <see cref="OperationsPerInvoke"/> makes the reported time and allocation per MiB.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
[MemoryDiagnoser]
[WarmupCount(2)]
[IterationCount(8)]
public class ReadPathBenchmarks
{
    private const int FileMiB = 256;
    private const int OperationsPerInvoke = FileMiB;
    private string _serverDir = "";
    private string _url = "";
    private SmbClient _client = null!;
    private readonly byte[] _buffer = new byte[1024 * 1024];

    /// <summary>READs kept in flight by the stream.</summary>
    [Params(1, 8)]
    public int Depth { get; set; }

    /// <summary>Size of each READ.</summary>
    [Params(1024 * 1024, 8 * 1024 * 1024)]
    public int IoSize { get; set; }

    /// <summary>
    /// Round-trip time added by a relay on 127.0.0.1 (<see cref="LatencyProxy"/>); 0 = straight to
    /// Samba. Loopback has no latency to speak of, so without it pipelining has nothing to hide.
    /// </summary>
    [Params(0, 2)]
    public int RttMs { get; set; }

    private LatencyProxy? _proxy;

    [GlobalSetup]
    public void Setup()
    {
        // tmpfs for the share, so the server never waits for a disk.
        _serverDir = Path.Combine("/dev/shm", $"smblayer-bdn-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_serverDir);
        File.SetUnixFileMode(_serverDir, (UnixFileMode)0b111_101_101);
        var env = Script("start", _serverDir, "default");
        var data = new byte[FileMiB * 1024 * 1024];
        new Random(1).NextBytes(data);
        File.WriteAllBytes(Path.Combine(env["SHAREDIR"], "big.bin"), data);
        var port = int.Parse(env["PORT"], System.Globalization.CultureInfo.InvariantCulture);
        if (RttMs > 0)
        {
            _proxy = new LatencyProxy(port, TimeSpan.FromMilliseconds(RttMs));
            port = _proxy.Port;
        }
        _url = $"smb://127.0.0.1:{port}/share/big.bin";
        _client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(env["USER"], env["PASSWORD"]),
            MaxRequestsInFlightPerStream = Depth,
            MaxIoSize = IoSize,
        });
        // Warm the pool: connection, session and tree exist before the first measured read.
        _client.GetInfoAsync(_url).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _proxy?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Script("stop", _serverDir);
        Directory.Delete(_serverDir, recursive: true);
    }

    /// <summary>Sequential Stream.ReadAsync calls of 1 MiB into the caller's buffer.</summary>
    [Benchmark(OperationsPerInvoke = OperationsPerInvoke)]
    public async Task<long> StreamRead1MiB()
    {
        await using var stream = await _client.OpenReadAsync(_url);
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(_buffer)) > 0)
        {
            total += n;
        }
        return total;
    }

    /// <summary>The download helper (no copy between the receive buffer and the destination).</summary>
    [Benchmark(OperationsPerInvoke = OperationsPerInvoke)]
    public Task<long> Download() => _client.DownloadAsync(_url, Stream.Null);

    private static Dictionary<string, string> Script(params string[] args)
    {
        var root = FindRepositoryRoot();
        var psi = new ProcessStartInfo("bash", [Path.Combine(root, "scripts", "samba-server.sh"), .. args]) { RedirectStandardOutput = true };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"samba-server.sh {string.Join(' ', args)} failed ({process.ExitCode}); it must run as root.");
        }
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "scripts", "samba-server.sh")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Cannot find scripts/samba-server.sh above " + AppContext.BaseDirectory);
    }
}
