using System.Diagnostics;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// Liveness judges the server only on what it has received (issue 16, item 1). The peer's small receive buffer and slow
/// reads make our bytes wait in our own socket, as behind a slow uplink: an ECHO queued behind them starts no clock, a
/// request's timeout counts from when the peer has it, and a peer that takes none of our bytes is still found dead.
/// </summary>
public class SlowUplinkTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private const int SmallReceiveBuffer = 64 * 1024;

    [Fact]
    public async Task ProbeQueuedBehindOurOwnBytes_PeerTakingThem_NotTakenForADeadServer_RequestTimeoutCountsFromDelivery()
    {
        // Echo timeout 2 s: the peer's paced reads may stall for a second on a loaded machine, and a peer that takes
        // nothing for the echo timeout is dead by design.
        var settings = new ConnectionSettings { ProbeDelay = TimeSpan.FromMilliseconds(300), EchoTimeout = TimeSpan.FromSeconds(2) };
        var (connection, peer) = await ScriptedPeer.StartAsync(settings, receiveBuffer: SmallReceiveBuffer);
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 500);
        peer.ReadBytesPerSecond = 1_000_000;
        // 4 MiB at 1 MB/s: about 4 s to reach the peer, past probe delay + echo timeout (2.3 s) and past its own
        // timeout (1.5 s). Before the fix the link was declared dead at 2.3 s and the WRITE expired at 1.5 s.
        var data = new byte[4 * 1024 * 1024];
        var sw = Stopwatch.StartNew();
        var write = connection.SendAsync(new WriteRequest(default, 0, data), new RequestContext { Timeout = TimeSpan.FromMilliseconds(1500) }, default);
        var written = await peer.ReadRequestAsync(Bound);
        var delivered = sw.Elapsed;
        Assert.Equal(Smb2Command.Write, written.Header.Command);
        var limit = connection.WriteSizeLimit;
        peer.ReadBytesPerSecond = 0;
        var probe = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Echo, probe.Header.Command);
        await peer.ReplyAsync(probe, credits: 1);
        await peer.ReplyAsync(written, body: [17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        var answered = sw.Elapsed;
        using var response = await write.WaitAsync(Bound);
        Assert.Equal(NtStatus.Success, response.Status);
        Assert.Equal(ConnectionState.Ready, connection.State);
        Assert.True(delivered > TimeSpan.FromSeconds(2.5), $"the WRITE reached the peer after {delivered.TotalSeconds:0.0} s: too fast to show anything");
        // Measured while backlogged: about 1 MB/s, so a frame that leaves within half the 0.3 s probe delay is ~150 KB
        // (64 KiB at least). Unmeasured it would be int.MaxValue.
        Assert.True(limit is >= 64 * 1024 and <= 1024 * 1024, $"WriteSizeLimit {limit} after a 1 MB/s upload");
        Console.WriteLine($"MEASURE slow-uplink delivered {delivered.TotalSeconds:0.00} s, answered {answered.TotalSeconds:0.00} s, limit {limit}");
    }

    [Fact]
    public async Task WriteBlockedInTheKernel_PeerTakingOurBytes_NotTakenForADeadServer()
    {
        // One 15 MiB WRITE (a frame just under the 16 MiB limit) at 2 MB/s: after the send buffer's first megabytes, the write stays blocked in the kernel for
        // seconds while the buffer refills from it as fast as it drains, so its fill level stands still. Before the link
        // read the kernel's acknowledged-byte count, that looked like no progress and the link was declared dead at ~2.3 s.
        var settings = new ConnectionSettings { ProbeDelay = TimeSpan.FromMilliseconds(300), EchoTimeout = TimeSpan.FromSeconds(2) };
        var (connection, peer) = await ScriptedPeer.StartAsync(settings, receiveBuffer: SmallReceiveBuffer);
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 500);
        peer.ReadBytesPerSecond = 2_000_000;
        var lost = 0;
        connection.StateChanged += change => lost += change.To == ConnectionState.Disconnected ? 1 : 0;
        var write = connection.SendAsync(new WriteRequest(default, 0, new byte[15 * 1024 * 1024]), RequestContext.None, default);
        ReceivedMessage? written = null;
        while (written is null)
        {
            var request = await peer.ReadRequestAsync(Bound);
            if (request.Header.Command == Smb2Command.Echo)
            {
                await peer.ReplyAsync(request, credits: 1);
                continue;
            }
            Assert.Equal(Smb2Command.Write, request.Header.Command);
            written = request;
        }
        peer.ReadBytesPerSecond = 0;
        await peer.ReplyAsync(written, body: [17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        (await write.WaitAsync(Bound)).Dispose();
        Assert.Equal(0, lost);
        Assert.Equal(ConnectionState.Ready, connection.State);
    }

    [Fact]
    public async Task PeerTakesNoneOfOurBytes_ProbeStuckBehindThem_DeclaredDeadWithinBound()
    {
        var settings = new ConnectionSettings { ProbeDelay = TimeSpan.FromMilliseconds(200), EchoTimeout = TimeSpan.FromMilliseconds(500) };
        var (connection, peer) = await ScriptedPeer.StartAsync(settings, receiveBuffer: SmallReceiveBuffer);
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 500);
        // The peer reads nothing more: once its window and our send buffer are full, no byte moves.
        var sw = Stopwatch.StartNew();
        var write = connection.SendAsync(new WriteRequest(default, 0, new byte[8 * 1024 * 1024]), RequestContext.None, default);
        var error = await Assert.ThrowsAsync<SmbConnectionException>(() => write.WaitAsync(Bound));
        sw.Stop();
        Assert.Contains("stopped answering", error.Message, StringComparison.Ordinal);
        Assert.Contains("bytes waiting to reach it", error.Message, StringComparison.Ordinal);
        // 0.2 s probe delay (counted from the credit grant, before this clock started) + 0.5 s without progress, and the
        // 250 ms timer ticks; well under the 5 min request timeout.
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(10));
    }
}
