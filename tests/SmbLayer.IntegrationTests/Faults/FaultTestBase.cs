using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>A Samba of its own for the fault suite, so it runs beside the conformance collections and its open-file counts are its own.</summary>
public sealed class FaultsSambaFixture() : SambaFixture(SambaProfile.Default);

[CollectionDefinition("samba-faults")]
public sealed class FaultsSambaCollection : ICollectionFixture<FaultsSambaFixture>;

/// <summary>Helpers shared by the fault tests: a proxy in front of the server, clients pointed at it, checks on the server's state.</summary>
public abstract partial class FaultTestBase(FaultsSambaFixture fixture)
{
    protected SambaServer Server => fixture.Server;

    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>Fast liveness for tests that are about what happens after detection, not about the default numbers.</summary>
    protected static void FastLiveness(SmbClientOptions o)
    {
        o.ProbeDelay = TimeSpan.FromMilliseconds(500);
        o.EchoTimeout = TimeSpan.FromSeconds(1);
    }

    protected SmbClient NewClient(SmbFailureMode mode, TimeSpan? soft = null, Action<SmbClientOptions>? configure = null)
    {
        var options = new SmbClientOptions
        {
            Credentials = new SmbCredentials(Server.UserName, Server.Password),
            FailureMode = mode,
            SoftTimeout = soft ?? TimeSpan.FromSeconds(30),
        };
        configure?.Invoke(options);
        return new SmbClient(options);
    }

    protected static string Url(FaultProxy proxy, string path) => $"smb://127.0.0.1:{proxy.Port}/share/{path}";

    protected string NewFile(string stem, int size, out byte[] data)
    {
        var name = $"{stem}-{Guid.NewGuid():N}.bin";
        data = RandomNumberGenerator.GetBytes(size);
        Server.WriteShareFile(name, data);
        return name;
    }

    /// <summary>Waits (bounded) until the server holds no open file: old sessions are torn down asynchronously.</summary>
    protected async Task AssertNoOpenFilesAsync()
    {
        var sw = Stopwatch.StartNew();
        int open;
        while ((open = await Server.CountOpenFilesAsync()) != 0 && sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(200);
        }
        Assert.True(open == 0, $"the server still holds {open} open file(s):\n{await Server.SmbStatusAsync()}");
    }

    /// <summary>
    /// Waits (bounded) until the server's own open table holds no durable open of <paramref name="name"/>, a
    /// disconnected one left behind included (smbstatus does not show those).
    /// </summary>
    protected async Task AssertServerHoldsNoOpensAsync(string name)
    {
        var sw = Stopwatch.StartNew();
        int open;
        while ((open = await Server.CountServerOpensAsync(name)) != 0 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(200);
        }
        if (open != 0)
        {
            var (_, sockets, _) = await ProcessRunner.RunAsync("ss", ["-tnp"], TimeSpan.FromSeconds(10));
            Assert.Fail($"the server's open table still holds {open} open(s) of {name} after {sw.Elapsed.TotalSeconds:0.0} s:\n" +
                $"{await Server.SmbStatusAsync()}\nsockets:\n{sockets}");
        }
    }

    /// <summary>Reads a stream to the end in chunks, calling <paramref name="after"/> once after <paramref name="triggerAt"/> bytes.</summary>
    protected static async Task<byte[]> ReadAllAsync(Stream stream, long triggerAt, Func<Task> after, int chunk = 256 * 1024)
    {
        var result = new MemoryStream();
        var buffer = new byte[chunk];
        var fired = false;
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            result.Write(buffer, 0, n);
            if (!fired && result.Length >= triggerAt)
            {
                fired = true;
                await after();
            }
        }
        Assert.True(fired, "the fault was never injected");
        return result.ToArray();
    }

    /// <summary>
    /// An iptables rule that DROPs TCP segments to the test server's port on the loopback interface, and
    /// nothing else: the server listens on 127.0.0.1 only, and the rule names interface, address and port.
    /// </summary>
    protected string[] LoopbackDropRule(string tag)
    {
        Assert.Equal("127.0.0.1", Server.Host);
        return ["INPUT", "-i", "lo", "-d", "127.0.0.1", "-p", "tcp", "--dport", Server.Port.ToString(CultureInfo.InvariantCulture),
            "-m", "comment", "--comment", $"smblayer-{tag}-{Environment.ProcessId}", "-j", "DROP"];
    }

    protected static async Task InsertRuleAsync(string[] rule)
    {
        var (rc, _, err) = await ProcessRunner.RunAsync("iptables", ["-I", .. rule], TimeSpan.FromSeconds(10));
        Assert.True(rc == 0, "iptables -I failed: " + err);
    }

    /// <summary>Removes every copy of <paramref name="rule"/> (bounded); a rule that is not there is fine.</summary>
    protected static async Task RemoveRuleAsync(string[] rule)
    {
        for (var i = 0; i < 10; i++)
        {
            var (rc, _, _) = await ProcessRunner.RunAsync("iptables", ["-D", .. rule], TimeSpan.FromSeconds(10));
            if (rc != 0)
            {
                return; // no (more) such rule
            }
        }
    }

    /// <summary>The smbd processes that hold an established connection on the server's port (the per-connection children).</summary>
    protected async Task<List<int>> ServingProcessesAsync()
    {
        var (_, output, _) = await ProcessRunner.RunAsync("ss", ["-tnpH", "state", "established", "sport", "=", $":{Server.Port}"], TimeSpan.FromSeconds(10));
        return SmbdPid().Matches(output).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .Where(pid => pid != Server.ProcessId).Distinct().ToList();
    }

    /// <summary>
    /// SIGTERM to every per-connection smbd of the server (an orderly loss: smbd disconnects its durable handles and exits).
    /// With <paramref name="untilGone"/>, returns only once they have exited (at most 10 s), so nothing the test sends
    /// afterwards can still reach a dying smbd: one that ran a WRITE after recording its durable handles' state would
    /// refuse their reclaim (SEMANTICS, "A request delivered late").
    /// </summary>
    protected async Task TerminateServingProcessesAsync(bool untilGone = false)
    {
        var pids = await ServingProcessesAsync();
        Terminate(pids);
        if (!untilGone)
        {
            return;
        }
        var waited = System.Diagnostics.Stopwatch.StartNew();
        foreach (var pid in pids)
        {
            while (IsRunning(pid))
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"smbd {pid} was still running 10 s after SIGTERM");
                await Task.Delay(20);
            }
        }
    }

    /// <summary>Whether process <paramref name="pid"/> still runs (not gone, not a zombie).</summary>
    protected static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[stat.LastIndexOf(')') + 2];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM to <paramref name="pids"/> at once (no helper process to start).</summary>
    protected static void Terminate(IReadOnlyCollection<int> pids)
    {
        Assert.NotEmpty(pids);
        foreach (var pid in pids)
        {
            _ = Kill(pid, 15);
        }
    }

    protected static int Kill(int pid, int signal) => Signals.Send(pid, signal);

    [GeneratedRegex("\"smbd\",pid=(\\d+)")]
    private static partial Regex SmbdPid();
}
