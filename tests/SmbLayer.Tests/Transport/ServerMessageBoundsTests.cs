using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// What unsolicited messages a server can make the client hold (docs/SECURITY.md, "Memory a server can make us hold"):
/// each at most <see cref="SmbLink.MaxServerMessageSize"/> bytes, at most <see cref="SmbConnection.MaxQueuedServerMessages"/>
/// waiting for the handlers per connection.
/// </summary>
public class ServerMessageBoundsTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private static byte[] Break(int bodySize = 24)
    {
        var body = new byte[bodySize];
        body[0] = 24; // StructureSize of an oplock break (§2.2.23.1)
        var notification = new ReceivedMessage(new Smb2Header { Command = Smb2Command.OplockBreak }, new byte[64]);
        return ScriptedPeer.Response(notification, credits: 0, body: body, messageId: ulong.MaxValue);
    }

    /// <summary>A break notification is 88 or 108 bytes; one of 16 KiB is a protocol violation, copied for no handler.</summary>
    [Fact]
    public async Task OversizedUnsolicitedMessage_IsProtocolViolation_NotHandedOver()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var handled = 0;
        connection.RegisterServerMessageHandler(_ => Interlocked.Increment(ref handled));
        var pending = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        await peer.ReadRequestAsync();
        await peer.SendMessagesAsync(Break(bodySize: 16 * 1024));
        var error = await Assert.ThrowsAnyAsync<SmbException>(() => pending.WaitAsync(Bound));
        Assert.Contains("Unsolicited OplockBreak message of 16448 bytes", error.ToString());
        await SmbConnectionTests.WaitForStateAsync(connection, ConnectionState.Closed);
        Assert.Equal(0, Volatile.Read(ref handled));
    }

    /// <summary>
    /// The handlers are held up while the server sends 3,000 breaks back to back: at most MaxQueuedServerMessages wait
    /// (plus the one being handled); the rest are dropped and counted, and the connection goes on.
    /// </summary>
    [Fact]
    public async Task BreakFlood_WhileHandlersAreHeldUp_AtMostTheLimitIsKept_RestDropped()
    {
        const int Sent = 3000;
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        using var gate = new ManualResetEventSlim();
        var handled = 0;
        connection.RegisterServerMessageHandler(_ =>
        {
            gate.Wait(Bound); // one loop hands messages over: holding it holds them all
            Interlocked.Increment(ref handled);
        });
        var echo = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        var request = await peer.ReadRequestAsync();
        var flood = Enumerable.Range(0, Sent).Select(_ => Break()).ToArray();
        for (var i = 0; i < flood.Length - 1; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(flood[i].AsSpan(20), (uint)flood[i].Length); // NextCommand: one compound frame
        }
        await peer.SendMessagesAsync(flood);
        await peer.ReplyAsync(request);
        (await echo.WaitAsync(Bound)).Dispose(); // answered after the flood: the reader has dispatched every break
        var dropped = connection.ServerMessagesDropped;
        Assert.InRange(dropped, Sent - SmbConnection.MaxQueuedServerMessages - 1, Sent - SmbConnection.MaxQueuedServerMessages);
        Assert.Equal(ConnectionState.Ready, connection.State);
        gate.Set();
        var deadline = DateTime.UtcNow + Bound;
        while (Volatile.Read(ref handled) + dropped < Sent && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.Equal(Sent, Volatile.Read(ref handled) + dropped);
    }
}
