using System.Buffers.Binary;
using SmbLayer.Protocol;
using SmbLayer.Tests.Client;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// A successful answer whose body does not read is a protocol violation: the caller gets <see cref="SmbProtocolException"/>
/// and the link is dropped; a CREATE's handle is closed first when its FileId can be read (docs/SECURITY.md).
/// </summary>
public class UnreadableResponseTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    /// <summary>A CREATE response whose create contexts lie past the end of the message (§2.2.14).</summary>
    private static byte[] CreateBodyWithContextsOutside(Smb2FileId fileId)
    {
        var body = ScriptedPeer.CreateBody(fileId);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(80), 0x10000); // CreateContextsOffset
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(84), 32);      // CreateContextsLength
        return body;
    }

    [Fact]
    public async Task SuccessfulCreate_Unreadable_CallerGetsProtocolError_HandleClosed_ThenLinkDropped()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var context = new RequestContext { SessionId = 9, TreeId = 3 };
        var task = connection.SendAsync(new TestRequest(Smb2Command.Create), context, default, priority: true);
        var request = await peer.ReadRequestAsync();
        var fileId = new Smb2FileId(0x1111, 0x2222);
        await peer.ReplyAsync(request, NtStatus.Success, credits: 4, body: CreateBodyWithContextsOutside(fileId));

        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("CreateContexts", error.Message);
        Assert.Contains(fileId.ToString(), error.Message);
        // The CLOSE for the handle goes out on the same link, in the request's session and tree...
        var close = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Close, close.Header.Command);
        Assert.Equal(fileId, Smb2FileId.Read(close.Body[8..]));
        Assert.Equal((9UL, 3U), (close.Header.SessionId, close.Header.TreeId));
        Assert.Equal(ConnectionState.Ready, connection.State);
        var closed = new byte[60];
        closed[0] = 60;
        await peer.ReplyAsync(close, body: closed);
        // ...and once it is answered the link is dropped.
        await SmbConnectionTests.WaitForStateAsync(connection, ConnectionState.Closed);
    }

    [Fact]
    public async Task SuccessfulCreate_TooShortForAFileId_LinkDroppedAtOnce()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var task = connection.SendAsync(new TestRequest(Smb2Command.Create), RequestContext.None, default, priority: true);
        await peer.ReplyAsync(await peer.ReadRequestAsync(), NtStatus.Success, body: [89, 0, 0, 0]);
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("too short to name its handle", error.Message);
        await SmbConnectionTests.WaitForStateAsync(connection, ConnectionState.Closed);
    }

    /// <summary>READ answers that claim more data than they carry (§2.2.20), through the client: the stream's replay loop.</summary>
    [Fact]
    public async Task SuccessfulRead_Unreadable_ThroughTheClient_ProtocolError_LinkDropped()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = new byte[20000];
        server.RewriteBody = (command, body) =>
        {
            if (command == Smb2Command.Read)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), 0x100000); // DataLength past the message
            }
            return body;
        };
        var options = ScriptedFileServer.ClientOptions();
        options.DurableHandles = false;
        await using var client = new SmbClient(options);
        await using var stream = await client.OpenReadAsync(server.Location("share", "f.bin")).WaitAsync(Bound);
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => stream.ReadAsync(new byte[4096]).AsTask().WaitAsync(Bound));
        Assert.Contains("READ", error.Message);
        await server.WaitForDisconnectAsync();
    }

    /// <summary>The same through a compound (CREATE + READ + CLOSE of a small download): its READ answer does not read.</summary>
    [Fact]
    public async Task SuccessfulReadInACompound_Unreadable_ProtocolError_LinkDropped()
    {
        await using var server = ScriptedFileServer.Start();
        server.Content = new byte[5000];
        server.RewriteBody = (command, body) =>
        {
            if (command == Smb2Command.Read)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), 0x100000);
            }
            return body;
        };
        await using var client = new SmbClient(ScriptedFileServer.ClientOptions());
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => client.DownloadAsync(server.Location("share", "f.bin"), new MemoryStream()).WaitAsync(Bound));
        Assert.Contains("READ", error.Message);
        await server.WaitForDisconnectAsync();
    }
}
