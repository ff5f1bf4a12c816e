using SmbLayer.Tests.Transport;
using Xunit.Abstractions;

namespace SmbLayer.Tests.Fuzz;

/// <summary>
/// The fuzz tests run alone, not beside other test classes: the live run keeps 8 connections busy, peaks at
/// ~300 MiB and ends with full garbage collections, and the pauses that causes in this one test process
/// made timing-sensitive tests next to it (liveness, request expiry) miss their bounds.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzCollection
{
    public const string Name = "fuzz (alone)";
}

/// <summary>
/// The fast fuzz subset that runs in CI (about 20,000 cases, fixed seed). The long run is
/// <see cref="FuzzLongRunTests"/>, enabled by SMBLAYER_FUZZ_CASES (see docs/SECURITY.md).
/// </summary>
[Collection(FuzzCollection.Name)]
public class FuzzTests(ITestOutputHelper output)
{
    private const int RunSeed = 20240505;

    [Fact]
    public void Seeds_Unmutated_AllParse()
    {
        Assert.True(FuzzSeeds.All.Count >= 20);
        foreach (var seed in FuzzSeeds.All)
        {
            seed.Consume(seed.Message);
        }
    }

    [Fact]
    public void Parsers_18000MutatedResponses_OnlyTypedErrors()
    {
        var report = FuzzHarness.RunParsers(18_000, RunSeed);
        output.WriteLine(report.ToString());
        Assert.True(report.Failures.IsEmpty, string.Join("\n", report.Failures));
        Assert.Equal(18_000, report.Cases);
        Assert.True(report.TypedErrors > 1_000, "the mutations reach the checks");
    }

    [Fact]
    public async Task LiveConnection_2000MutatedResponses_TypedErrorsNoHangNoLeak()
    {
        var report = await FuzzHarness.RunLiveAsync(2_000, RunSeed);
        output.WriteLine(report.ToString());
        Assert.True(report.Failures.IsEmpty, string.Join("\n", report.Failures));
        Assert.Equal(2_000, report.Cases);
    }

    [Fact]
    public async Task Listings_300RandomAndMutated_NameLimitAndWalkQueueHold()
    {
        var report = await ListingFuzz.RunAsync(300, RunSeed);
        output.WriteLine(report.ToString());
        Assert.True(report.Failures.IsEmpty, string.Join("\n", report.Failures));
        Assert.Equal(300, report.Cases);
        Assert.True(report.Accepted > 60 && report.Outcomes.GetValueOrDefault(nameof(SmbHandleLostException)) > 10, "listings end, and some past the name limit");
    }
}

/// <summary>
/// The long run: <c>SMBLAYER_FUZZ_CASES=1000000 dotnet test tests/SmbLayer.Tests -c Release --filter FuzzLongRun</c>.
/// 95% of the cases go to the parsers, 5% through a live connection. Without the variable it does nothing.
/// </summary>
[Collection(FuzzCollection.Name)]
public class FuzzLongRunTests(ITestOutputHelper output)
{
    [Fact]
    public async Task FuzzLongRun_CasesFromEnvironment_NoFailures()
    {
        if (!long.TryParse(Environment.GetEnvironmentVariable("SMBLAYER_FUZZ_CASES"), out var cases) || cases <= 0)
        {
            return;
        }
        var seed = int.TryParse(Environment.GetEnvironmentVariable("SMBLAYER_FUZZ_SEED"), out var s) ? s : 1;
        var live = Math.Max(1, cases / 20);
        var parsers = FuzzHarness.RunParsers(cases - live, seed);
        var connection = await FuzzHarness.RunLiveAsync(live, seed);
        var summary = $"seed {seed}\nparsers: {parsers}\nlive:    {connection}";
        output.WriteLine(summary);
        if (Environment.GetEnvironmentVariable("SMBLAYER_FUZZ_REPORT") is { Length: > 0 } path)
        {
            await File.WriteAllTextAsync(path, summary + "\n" + string.Join("\n", parsers.Failures.Concat(connection.Failures)) + "\n");
        }
        Assert.True(parsers.Failures.IsEmpty && connection.Failures.IsEmpty, string.Join("\n", parsers.Failures.Concat(connection.Failures)));
    }
}
