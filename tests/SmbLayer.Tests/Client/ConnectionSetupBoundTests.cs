using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SmbLayer.Tests.Client;

/// <summary>
/// Every wait is bounded by the call's mode (issue 16, item 6): a listener that accepts TCP and never answers NEGOTIATE
/// held `--soft 5` for the 5 min request timeout, because liveness does not run before NEGOTIATE. Now the NEGOTIATE is
/// the probe (probe delay + echo timeout), and in soft mode the whole connection setup ends by the soft timeout.
/// </summary>
public class ConnectionSetupBoundTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static (TcpListener Listener, string Url) SilentListener()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(); // the kernel accepts the connection; nobody ever reads or answers it
        return (listener, $"smb://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/share/file.txt");
    }

    [Fact]
    public async Task ListenerNeverAnswersNegotiate_Soft2s_FailsAtTheSoftTimeout()
    {
        var (listener, url) = SilentListener();
        using var _ = listener;
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials("u", "p"),
            FailureMode = SmbFailureMode.Soft,
            SoftTimeout = TimeSpan.FromSeconds(2),
            ProbeDelay = TimeSpan.FromSeconds(30), // so the NEGOTIATE's own bound (probe + echo) is not what ends it
        });
        var sw = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<SmbTimeoutException>(() => client.GetInfoAsync(url).WaitAsync(Bound));
        sw.Stop();
        Assert.Contains("soft timeout", error.Message, StringComparison.Ordinal);
        Assert.InRange(sw.Elapsed, TimeSpan.FromSeconds(1.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ListenerNeverAnswersNegotiate_Hard_FailsAfterProbeDelayPlusEchoTimeout()
    {
        var (listener, url) = SilentListener();
        using var _ = listener;
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials("u", "p"),
            FailureMode = SmbFailureMode.Hard,
            ProbeDelay = TimeSpan.FromMilliseconds(300),
            EchoTimeout = TimeSpan.FromMilliseconds(700),
        });
        var sw = Stopwatch.StartNew();
        // An initial connection is not retried in either mode: the unanswered NEGOTIATE fails the call.
        var error = await Assert.ThrowsAnyAsync<SmbException>(() => client.GetInfoAsync(url).WaitAsync(Bound));
        sw.Stop();
        Assert.Contains("NEGOTIATE", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.InRange(sw.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
    }
}
