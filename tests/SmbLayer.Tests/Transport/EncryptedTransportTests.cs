using System.Buffers.Binary;
using System.Security.Cryptography;
using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Session;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>The transport's TRANSFORM handling against a scripted peer holding the mirror keys.</summary>
public class EncryptedTransportTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private const ulong SessionId = 0x77;

    private static (SessionTransform Client, Smb3Cipher Server) Keys(CipherId cipher = CipherId.Aes128Gcm)
    {
        var c2s = RandomNumberGenerator.GetBytes(Smb3Cipher.KeySize(cipher));
        var s2c = RandomNumberGenerator.GetBytes(Smb3Cipher.KeySize(cipher));
        return (new SessionTransform(SessionId, new Smb3Cipher(cipher, c2s, s2c)), new Smb3Cipher(cipher, s2c, c2s));
    }

    /// <summary>Reads one encrypted frame and returns the plaintext messages.</summary>
    private static async Task<byte[]> ReadEncryptedAsync(ScriptedPeer peer, Smb3Cipher server)
    {
        var raw = await peer.ReadRawFrameAsync();
        Assert.Equal(Smb2TransformHeader.ProtocolIdValue, BinaryPrimitives.ReadUInt32LittleEndian(raw));
        Assert.Equal(SessionId, BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(44)));
        var plain = new byte[raw.Length - Smb2TransformHeader.Size];
        server.Decrypt(raw, plain);
        return plain;
    }

    private static byte[] Encrypt(Smb3Cipher server, byte[] plain, ulong sessionId = SessionId)
    {
        var message = new byte[Smb3Cipher.Overhead + plain.Length];
        server.Encrypt(sessionId, plain, message);
        return message;
    }

    private static byte[] ResponseTo(byte[] requestMessage)
    {
        var header = Smb2Header.ReadFrom(requestMessage);
        return ScriptedPeer.Response(new ReceivedMessage(header, requestMessage), credits: 8);
    }

    [Theory]
    [InlineData(SmbCipher.Aes128Ccm)]
    [InlineData(SmbCipher.Aes128Gcm)]
    [InlineData(SmbCipher.Aes256Ccm)]
    [InlineData(SmbCipher.Aes256Gcm)]
    public async Task EncryptedRequest_EncryptedReply_Completes(SmbCipher cipher)
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var (client, server) = Keys((CipherId)cipher);
        connection.RegisterTransform(client);
        var context = new RequestContext { SessionId = SessionId, Transform = client };

        var task = connection.SendAsync(new TestRequest(), context, default, priority: true);
        var plain = await ReadEncryptedAsync(peer, server);
        Assert.Equal(Smb2Command.Echo, Smb2Header.ReadFrom(plain).Command);
        Assert.False(Smb2Header.ReadFrom(plain).IsSigned, "encrypted requests are not signed");
        await peer.SendMessagesAsync(Encrypt(server, ResponseTo(plain)));
        using var response = await task.WaitAsync(Bound);
        Assert.Equal(NtStatus.Success, response.Status);
    }

    [Fact]
    public async Task EncryptedRequest_PlaintextReply_IsProtocolErrorAndCloses()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var (client, server) = Keys();
        connection.RegisterTransform(client);
        var task = connection.SendAsync(new TestRequest(), new RequestContext { SessionId = SessionId, Transform = client }, default, priority: true);
        var plain = await ReadEncryptedAsync(peer, server);
        await peer.SendMessagesAsync(ResponseTo(plain));
        var ex = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("Unencrypted response", ex.Message);
        Assert.Equal(ConnectionState.Closed, connection.State);
    }

    [Fact]
    public async Task TamperedEncryptedReply_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var (client, server) = Keys();
        connection.RegisterTransform(client);
        var task = connection.SendAsync(new TestRequest(), new RequestContext { SessionId = SessionId, Transform = client }, default, priority: true);
        var plain = await ReadEncryptedAsync(peer, server);
        var reply = Encrypt(server, ResponseTo(plain));
        reply[^1] ^= 0x80;
        await peer.SendMessagesAsync(reply);
        var ex = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("authentication", ex.Message);
    }

    [Fact]
    public async Task EncryptedReply_ForUnknownSession_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var (client, server) = Keys();
        connection.RegisterTransform(client);
        var task = connection.SendAsync(new TestRequest(), new RequestContext { SessionId = SessionId, Transform = client }, default, priority: true);
        var plain = await ReadEncryptedAsync(peer, server);
        await peer.SendMessagesAsync(Encrypt(server, ResponseTo(plain), sessionId: 0x99));
        var ex = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("0x99", ex.Message);
    }

    [Fact]
    public async Task Compound_EncryptedAsOneUnit()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 10);

        var (client, server) = Keys(CipherId.Aes128Ccm);
        connection.RegisterTransform(client);
        var tasks = connection.SendCompound([new TestRequest(), new TestRequest()], new RequestContext { SessionId = SessionId, Transform = client }, related: false, default);
        var plain = await ReadEncryptedAsync(peer, server);
        var first = Smb2Header.ReadFrom(plain);
        Assert.True(first.NextCommand > 0, "both requests inside one TRANSFORM frame");
        var second = plain[(int)first.NextCommand..];
        await peer.SendMessagesAsync(Encrypt(server, ResponseTo(plain[..(int)first.NextCommand])));
        await peer.SendMessagesAsync(Encrypt(server, ResponseTo(second)));
        foreach (var t in tasks)
        {
            (await t.WaitAsync(Bound)).Dispose();
        }
    }
}
