using System.Diagnostics;
using System.Globalization;

namespace SmbLayer.Benchmarks;

/// <summary>
/// The library in process, as bench/run.sh's "lib" cases run it: read and write one file of a server that
/// run.sh started, with 1, 8 and 32 requests in flight per stream, the download both into a local file through
/// splice (the default on Linux) and through this process's memory (<c>SmbLayer.DisableZeroCopy</c>). Each
/// configuration runs <c>runs</c> times, the configurations interleaved run by run so that the machine's drift
/// spreads over all of them. Prints one line per configuration: min, median, max wall seconds and median CPU
/// seconds per GiB (this process, user + system).
///
///   SmbLayer.Benchmarks transfer URL_OF_FILE LOCAL_DIR RUNS      (password in SMB_PASSWORD)
/// </summary>
internal static class TransferBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 4 || !int.TryParse(args[3], CultureInfo.InvariantCulture, out var runs) || runs is < 1 or > 50)
        {
            Console.Error.WriteLine("usage: SmbLayer.Benchmarks transfer smb://user@host:port/share/file LOCAL_DIR RUNS(1..50)");
            return 2;
        }
        var remote = SmbPath.Parse(args[1]);
        var local = args[2];
        var password = Environment.GetEnvironmentVariable("SMB_PASSWORD") ?? "";
        var user = remote.UserName ?? Environment.UserName;
        var configurations = new List<(string Name, Func<Task<long>> Run)>();
        foreach (var depth in new[] { 1, 8, 32 })
        {
            var options = () => new SmbClientOptions { Credentials = new SmbCredentials(user, password), MaxRequestsInFlightPerStream = depth };
            configurations.Add(($"lib_read_{depth}_splice", () => ReadAsync(options(), remote, local, zeroCopy: true)));
            configurations.Add(($"lib_read_{depth}_memory", () => ReadAsync(options(), remote, local, zeroCopy: false)));
            configurations.Add(($"lib_write_{depth}", () => WriteAsync(options(), remote, local)));
        }
        var walls = configurations.ToDictionary(c => c.Name, _ => new List<double>());
        var cpus = configurations.ToDictionary(c => c.Name, _ => new List<double>());
        long bytes = 0;
        // One untimed round first: the server's page cache and our connection code warm up.
        foreach (var (_, run) in configurations.Where(c => c.Name.EndsWith("_8_splice", StringComparison.Ordinal) || c.Name == "lib_write_8"))
        {
            await run();
        }
        for (var r = 0; r < runs; r++)
        {
            foreach (var (name, run) in configurations)
            {
                var process = Process.GetCurrentProcess();
                var cpu = process.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                bytes = await run();
                walls[name].Add(clock.Elapsed.TotalSeconds);
                process.Refresh();
                cpus[name].Add((process.TotalProcessorTime - cpu).TotalSeconds);
            }
        }
        var gib = bytes / (1024.0 * 1024 * 1024);
        foreach (var (name, _) in configurations)
        {
            var w = walls[name].Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-22} {w[0],8:F3} {Median(w),8:F3} {w[^1],8:F3} {Median(cpus[name].Order().ToArray()) / gib,9:F3}"));
        }
        return 0;
    }

    private static async Task<long> ReadAsync(SmbClientOptions options, SmbPath remote, string local, bool zeroCopy)
    {
        AppContext.SetSwitch(SmbClientOptions.DisableZeroCopySwitch, !zeroCopy);
        try
        {
            await using var client = new SmbClient(options);
            var target = Path.Combine(local, "lib-read.bin");
            await using var file = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1);
            return await client.DownloadAsync(remote, file);
        }
        finally
        {
            AppContext.SetSwitch(SmbClientOptions.DisableZeroCopySwitch, false);
        }
    }

    private static async Task<long> WriteAsync(SmbClientOptions options, SmbPath remote, string local)
    {
        await using var client = new SmbClient(options);
        var source = Path.Combine(local, "lib-read.bin");
        await using var file = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        return await client.UploadAsync(file, remote.WithPath(remote.Path + ".lib-write"));
    }

    private static double Median(double[] sorted) =>
        sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}
