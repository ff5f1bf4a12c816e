using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// The writer owns what it sends (issue 16, item 2): a caller released early (cancelled past the grace, timed out, its
/// link failed) may reuse its buffer at once, and the wire still carries only the bytes it asked to send. The peer reads
/// nothing at first, so the writer is held up on the socket, as on a slow uplink, while the caller is released.
/// </summary>
public class WriterOwnershipTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private const int SmallReceiveBuffer = 64 * 1024;
    private const int Blocker = 8 * 1024 * 1024; // more than our send buffer and the peer's window hold

    private static ConnectionSettings QuickGrace => new() { CancelGrace = TimeSpan.FromMilliseconds(100), ProbeDelay = TimeSpan.FromSeconds(30) };

    private static void AssertAll(ReceivedMessage write, byte expected, int length)
    {
        var data = write.Body[(WriteRequest.DataOffset - Smb2Header.Size)..].ToArray();
        Assert.Equal(length, data.Length);
        var wrong = Array.FindIndex(data, b => b != expected);
        Assert.True(wrong < 0, $"byte {wrong} of the WRITE on the wire is 0x{(wrong < 0 ? 0 : data[wrong]):X2}, not 0x{expected:X2}: the caller's reused buffer was sent");
    }

    [Fact]
    public async Task QueuedWrite_CancelledPastGrace_CallerReusesBuffer_WireCarriesTheOriginalBytes()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(QuickGrace, receiveBuffer: SmallReceiveBuffer);
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 500);
        var first = connection.SendAsync(new WriteRequest(default, 0, new byte[Blocker]), RequestContext.None, default);
        var buffer = new byte[1024 * 1024];
        buffer.AsSpan().Fill(0xA2);
        using var cts = new CancellationTokenSource();
        var second = connection.SendAsync(new WriteRequest(default, Blocker, buffer), RequestContext.None, cts.Token);
        await cts.CancelAsync();
        // Released after the grace although its frame still waits behind the first: the link sends a copy.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second.WaitAsync(Bound));
        buffer.AsSpan().Fill(0x5A); // the caller reuses its buffer (a pooled one goes to another file)
        var blocker = await peer.ReadRequestAsync(Bound);
        var queued = await peer.ReadRequestAsync(Bound);
        Assert.Equal(Smb2Command.Write, queued.Header.Command);
        AssertAll(queued, 0xA2, buffer.Length);
        var cancel = await peer.ReadRequestAsync(Bound);
        Assert.Equal(Smb2Command.Cancel, cancel.Header.Command);
        Assert.Equal(queued.Header.MessageId, cancel.Header.MessageId);
        await peer.ReplyAsync(blocker);
        (await first.WaitAsync(Bound)).Dispose();
    }

    [Fact]
    public async Task WriteBeingWritten_CancelledPastGrace_CallerReleasedOnlyOnceItsBytesLeft()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(QuickGrace, receiveBuffer: SmallReceiveBuffer);
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 500);
        var buffer = new byte[Blocker];
        buffer.AsSpan().Fill(0xC3);
        using var cts = new CancellationTokenSource();
        var write = connection.SendAsync(new WriteRequest(default, 0, buffer), RequestContext.None, cts.Token);
        // The moment the caller is released it reuses the buffer.
        var reused = write.ContinueWith(_ => buffer.AsSpan().Fill(0x5A), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        await Task.Delay(300); // the writer is now held up inside this frame, which is sent from the caller's memory
        await cts.CancelAsync();
        await Task.Delay(1000); // far past the 100 ms grace
        Assert.False(write.IsCompleted, "the caller was released while the writer still read its buffer");
        var frame = await peer.ReadRequestAsync(Bound);
        AssertAll(frame, 0xC3, buffer.Length);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(Bound));
        await reused.WaitAsync(Bound);
    }

    [Fact]
    public async Task CallerCancel_ThenExpiry_OneCancelOnTheWire()
    {
        // The CANCEL is signed under its target's MessageId; with AES-GMAC that MessageId is the nonce, so a second one
        // would reuse it. Here the caller cancels, and the request's own timeout expires within the 2 s grace.
        var (connection, peer) = await ScriptedPeer.StartAsync(new ConnectionSettings { ProbeDelay = TimeSpan.FromSeconds(30) });
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 10);
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(Smb2Command.Read), new RequestContext { Timeout = TimeSpan.FromMilliseconds(500) }, cts.Token);
        var request = await peer.ReadRequestAsync();
        await cts.CancelAsync();
        var cancel = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Cancel, cancel.Header.Command);
        Assert.Equal(request.Header.MessageId, cancel.Header.MessageId);
        await Assert.ThrowsAnyAsync<SmbException>(() => task.WaitAsync(Bound)); // expired at 0.5 s
        Assert.True(await peer.IsQuietAsync(TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task ResponseToARequestNotYetSent_IsAProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(QuickGrace, receiveBuffer: SmallReceiveBuffer);
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 500);
        var first = connection.SendAsync(new WriteRequest(default, 0, new byte[Blocker]), RequestContext.None, default);
        var second = connection.SendAsync(new TestRequest(Smb2Command.Read), RequestContext.None, default);
        // MessageId 0 primed the credits; the 8 MiB WRITE took 1..128 (128 credits); the READ is 129, still queued.
        var fake = new ReceivedMessage(new Smb2Header { Command = Smb2Command.Read, MessageId = 129 }, new byte[Smb2Header.Size]);
        await peer.ReplyAsync(fake);
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => second.WaitAsync(Bound));
        Assert.Contains("before the request was sent", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<SmbException>(() => first.WaitAsync(Bound));
    }
    [Fact]
    public async Task LinkFails_WithAWriteStillInTheSendBuffer_NothingOfItReachesTheServerAfterwards()
    {
        // A failed link is given up for good: what the session layer replays goes on the next link. A graceful close would
        // let the kernel go on delivering the old link's unsent WRITE once an outage ends, applied late on the server.
        var (connection, peer) = await ScriptedPeer.StartAsync(QuickGrace, receiveBuffer: SmallReceiveBuffer);
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 500);
        var write = connection.SendAsync(new WriteRequest(default, 0, new byte[Blocker]), RequestContext.None, default);
        await Task.Delay(300); // most of the 8 MiB waits in the client's send buffer; the peer has read none of it
        // An answer to a MessageId not yet sent: a protocol violation, so the link fails.
        await peer.ReplyAsync(new ReceivedMessage(new Smb2Header { Command = Smb2Command.Read, MessageId = 400 }, new byte[Smb2Header.Size]));
        await Assert.ThrowsAnyAsync<SmbException>(() => write.WaitAsync(Bound));
        // The peer now reads: the connection was reset before the whole frame arrived.
        // The peer now reads what still comes: no more than its own receive buffer held, then a reset. A graceful close
        // would deliver the megabytes the client's send buffer held, then an end of stream.
        var (bytes, reset) = await peer.DrainUntilClosedAsync(Bound);
        Assert.True(reset, $"the client closed gracefully after the link failed: {bytes} more bytes of the old link reached the peer");
        Assert.True(bytes <= 4 * SmallReceiveBuffer, $"{bytes} bytes of the old link reached the peer after it failed");
    }
}
