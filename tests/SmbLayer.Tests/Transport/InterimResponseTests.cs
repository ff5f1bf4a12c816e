using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Session;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// What an interim (STATUS_PENDING) reply may do (docs/SECURITY.md, "Interim responses"): nothing unless encrypted for an
/// encrypted request; on a signing session, an unsigned one (which servers may send, MS-SMB2 §3.3.4.1.1) neither moves
/// the AsyncId a CANCEL targets nor stretches the deadline more than once.
/// </summary>
public class InterimResponseTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);
    private const ulong SessionId = 0x77;
    private static readonly byte[] InterimBody = [9, 0, 0, 0, 0, 0, 0, 0, 0];

    private static byte[] Interim(ReceivedMessage request, ulong asyncId, IMessageSigner? signer = null)
    {
        var message = ScriptedPeer.Response(request, NtStatus.Pending, credits: 0, body: InterimBody, flags: Smb2HeaderFlags.AsyncCommand, asyncId: asyncId);
        signer?.Sign(message);
        return message;
    }

    private static (SessionTransform Client, Smb3Cipher Server) Keys(ulong sessionId = SessionId)
    {
        var c2s = RandomNumberGenerator.GetBytes(16);
        var s2c = RandomNumberGenerator.GetBytes(16);
        return (new SessionTransform(sessionId, new Smb3Cipher(CipherId.Aes128Gcm, c2s, s2c)), new Smb3Cipher(CipherId.Aes128Gcm, s2c, c2s));
    }

    private static byte[] Encrypt(Smb3Cipher server, byte[] plain, ulong sessionId = SessionId)
    {
        var message = new byte[Smb3Cipher.Overhead + plain.Length];
        server.Encrypt(sessionId, plain, message);
        return message;
    }

    private static async Task<ReceivedMessage> ReadEncryptedAsync(ScriptedPeer peer, Smb3Cipher server)
    {
        var raw = await peer.ReadRawFrameAsync();
        var plain = new byte[raw.Length - Smb2TransformHeader.Size];
        server.Decrypt(raw, plain);
        return new ReceivedMessage(Smb2Header.ReadFrom(plain), plain);
    }

    /// <summary>MS-SMB2 §3.3.4.1.4: every response to an encrypted request is encrypted, an interim one too.</summary>
    [Fact]
    public async Task EncryptedRequest_PlaintextInterim_IsProtocolErrorAndCloses()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var (client, server) = Keys();
        connection.RegisterTransform(client);
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), new RequestContext { SessionId = SessionId, Transform = client }, default, priority: true);
        var request = await ReadEncryptedAsync(peer, server);
        await peer.SendMessagesAsync(Interim(request, 0x55));
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("Unencrypted interim response", error.Message);
        await SmbConnectionTests.WaitForStateAsync(connection, ConnectionState.Closed);
    }

    /// <summary>The twin: an encrypted interim reply, then the encrypted final answer, completes.</summary>
    [Fact]
    public async Task EncryptedRequest_EncryptedInterim_ThenFinal_Completes()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var (client, server) = Keys();
        connection.RegisterTransform(client);
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), new RequestContext { SessionId = SessionId, Transform = client }, default, priority: true);
        var request = await ReadEncryptedAsync(peer, server);
        await peer.SendMessagesAsync(Encrypt(server, Interim(request, 0x55)));
        await peer.SendMessagesAsync(Encrypt(server, ScriptedPeer.Response(request, asyncId: 0x55)));
        using var response = await task.WaitAsync(Bound);
        Assert.Equal(NtStatus.Success, response.Status);
    }

    /// <summary>Two encrypted sessions on one connection: an interim reply under the other session's keys is not this request's.</summary>
    [Fact]
    public async Task EncryptedRequest_InterimEncryptedForAnotherSession_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var (client, server) = Keys();
        var (otherClient, otherServer) = Keys(0x88);
        connection.RegisterTransform(client);
        connection.RegisterTransform(otherClient);
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), new RequestContext { SessionId = SessionId, Transform = client }, default, priority: true);
        var request = await ReadEncryptedAsync(peer, server);
        var interim = Interim(request, 0x55);
        BinaryPrimitives.WriteUInt64LittleEndian(interim.AsSpan(40), 0x88); // the header's SessionId matches the keys used
        await peer.SendMessagesAsync(Encrypt(otherServer, interim, sessionId: 0x88));
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("encrypted for session 0x88", error.Message);
    }

    /// <summary>
    /// A signing session: unsigned interim replies keep coming (as an attacker on the path can send them). Only the first
    /// extends the deadline, so the request expires about one timeout after it; before, each one extended it, up to
    /// MaxPendingExtensions timeouts.
    /// </summary>
    [Fact]
    public async Task SigningSession_RepeatedUnsignedInterims_ExtendOnce()
    {
        var elapsed = await RepeatedInterimsAsync(signInterims: false);
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(1400), TimeSpan.FromMilliseconds(3400));
    }

    /// <summary>The twin: signed interim replies that verify extend the deadline each time, up to 3 × the timeout.</summary>
    [Fact]
    public async Task SigningSession_RepeatedSignedInterims_ExtendUpToTheLimit()
    {
        var elapsed = await RepeatedInterimsAsync(signInterims: true);
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(3900), TimeSpan.FromSeconds(10));
    }

    /// <summary>Sends a request with a 1.5 s timeout and answers it with an interim reply every 100 ms; returns the time to its expiry.</summary>
    private static async Task<TimeSpan> RepeatedInterimsAsync(bool signInterims)
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(new ConnectionSettings { MaxPendingExtensions = 3 });
        await using var _ = connection;
        await using var __ = peer;
        var signer = new FakeSigner();
        var sw = Stopwatch.StartNew();
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify),
            new RequestContext { SessionId = 5, Signer = signer, Timeout = TimeSpan.FromMilliseconds(1500) }, default, priority: true);
        var request = await peer.ReadRequestAsync();
        using var stop = new CancellationTokenSource();
        var pender = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await peer.SendMessagesAsync(Interim(request, 0x42, signInterims ? signer : null));
                await Task.Delay(100);
            }
        });
        await Assert.ThrowsAsync<SmbTimeoutException>(() => task.WaitAsync(Bound));
        var elapsed = sw.Elapsed;
        await stop.CancelAsync();
        await pender.ContinueWith(_ => { }, TaskScheduler.Default);
        return elapsed;
    }

    /// <summary>
    /// An unsigned interim reply on a signing session cannot move the AsyncId an earlier one set: a CANCEL would then miss
    /// the request. A second AsyncId is a protocol violation (§3.3.4.2: it stays valid until the final answer).
    /// </summary>
    [Fact]
    public async Task SigningSession_UnsignedInterimWithAnotherAsyncId_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var signer = new FakeSigner();
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), new RequestContext { SessionId = 5, Signer = signer }, default, priority: true);
        var request = await peer.ReadRequestAsync();
        await peer.SendMessagesAsync(Interim(request, 0x1234));
        await peer.SendMessagesAsync(Interim(request, 0x9999));
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("AsyncId 0x9999", error.Message);
        Assert.Contains("0x1234", error.Message);
    }

    /// <summary>
    /// A forged unsigned interim reply came first; the server's own, signed, names the real AsyncId: the signed one wins,
    /// and the CANCEL targets it.
    /// </summary>
    [Fact]
    public async Task SigningSession_SignedInterimReplacesAnUnsignedAsyncId_CancelTargetsIt()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var signer = new FakeSigner();
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), new RequestContext { SessionId = 5, Signer = signer }, cts.Token, priority: true);
        var request = await peer.ReadRequestAsync();
        await peer.SendMessagesAsync(Interim(request, 0x6666));
        await peer.SendMessagesAsync(Interim(request, 0x1234, signer));
        await SmbConnectionTests.ReaderCaughtUpAsync(connection, peer);
        cts.Cancel();
        var cancel = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Cancel, cancel.Header.Command);
        Assert.Equal(0x1234UL, cancel.Header.AsyncId);
        var final = ScriptedPeer.Response(request, NtStatus.Cancelled, asyncId: 0x1234);
        signer.Sign(final);
        await peer.SendMessagesAsync(final);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(Bound));
    }

    /// <summary>An interim reply that says it is signed must verify; one that does not is a protocol violation.</summary>
    [Fact]
    public async Task SigningSession_BadlySignedInterim_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var signer = new FakeSigner();
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), new RequestContext { SessionId = 5, Signer = signer }, default, priority: true);
        var request = await peer.ReadRequestAsync();
        var interim = Interim(request, 0x1234, signer);
        interim[^1] ^= 1;
        await peer.SendMessagesAsync(interim);
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("Bad signature on the interim response", error.Message);
    }

    /// <summary>§3.3.4.2: an AsyncId is nonzero; an interim reply with AsyncId 0 would make a CANCEL target nothing.</summary>
    [Fact]
    public async Task Interim_WithAsyncIdZero_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), RequestContext.None, default, priority: true);
        var request = await peer.ReadRequestAsync();
        await peer.SendMessagesAsync(Interim(request, 0));
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("AsyncId 0", error.Message);
    }
}
