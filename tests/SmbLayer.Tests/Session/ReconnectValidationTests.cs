using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Protocol;
using SmbLayer.Session;
using SmbLayer.Tests.Security;
using SmbLayer.Tests.Transport;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Session;

/// <summary>
/// A reconnect is validated like the first connect: the NEGOTIATE answer on the new link must settle what the first,
/// validated one did, and the recovered session keeps its signing. Someone on the path who resets the connection and
/// rewrites the next NEGOTIATE (to clear SMB2_NEGOTIATE_SIGNING_REQUIRED, say) must not get an unsigned session: the
/// client refuses before any SESSION_SETUP, closes the connection, and the waiting call gets the
/// <see cref="SmbSecurityException"/>. Each refusal has an unchanged twin that recovers, so the refusal is the change
/// and not the scripted server.
/// </summary>
public class ReconnectValidationTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly Guid OtherServerGuid = new("12345678-9abc-def0-1234-56789abcdef0");

    /// <summary>What a NEGOTIATE answer settles; <see cref="First"/> is what the first connect's answer said.</summary>
    private sealed record Answer(SmbDialect Dialect, SecurityMode SecurityMode, GlobalCapabilities Capabilities, Guid ServerGuid,
        CipherId Cipher = CipherId.None, Smb2SigningAlgorithmId Signing = Smb2SigningAlgorithmId.AesGmac, ushort PreauthHash = (ushort)PreauthHashAlgorithm.Sha512)
    {
        public static Answer First(SmbDialect dialect) => new(dialect, SecurityMode.SigningEnabled | SecurityMode.SigningRequired,
            GlobalCapabilities.LargeMtu | GlobalCapabilities.Leasing, ScriptedSmbServer.ServerGuid,
            Cipher: dialect == SmbDialect.Smb311 ? CipherId.Aes128Gcm : CipherId.None);

        public Task SendAsync(ScriptedSmbServer server) => server.NegotiateAsync(Dialect, SecurityMode, Capabilities,
            serverGuid: ServerGuid, cipher: Cipher, signing: Signing, preauthHash: PreauthHash);
    }

    /// <summary>
    /// Connected as <paramref name="first"/> says (signing when it requires it), a session and a tree; on 3.0.2 the first
    /// NEGOTIATE was validated with VALIDATE_NEGOTIATE_INFO, on 3.1.1 by the signed final SESSION_SETUP response.
    /// Recovery (session, then tree) is registered.
    /// </summary>
    private static async Task<(SmbConnection, ScriptedPeer, SmbTree, ScriptedSmbServer)> ConnectedTreeAsync(Answer first, bool allowGuest = false)
    {
        var settings = new ConnectionSettings
        {
            MinDialect = first.Dialect == SmbDialect.Smb311 ? SmbDialect.Smb311 : SmbDialect.Smb300,
            MaxDialect = first.Dialect,
            Reconnect = true,
            ReconnectAttemptTimeout = TimeSpan.FromSeconds(5),
        };
        var (connection, peer) = await ScriptedPeer.StartAsync(settings, markReady: false);
        var server = new ScriptedSmbServer(peer, "alice", "DOM", "Secret-1");
        var negotiate = connection.NegotiateAsync(CancellationToken.None);
        await first.SendAsync(server);
        await negotiate.WaitAsync(Bound);
        var setup = SmbSession.SetupAsync(connection, new SessionSetupOptions
        {
            Credentials = new SmbCredentials("alice", "Secret-1", "DOM"),
            Workstation = "WS",
            AllowGuest = allowGuest,
        }, CancellationToken.None);
        await server.SessionSetupAsync(first.Dialect);
        var session = await setup.WaitAsync(Bound);
        Assert.Equal(first.SecurityMode.HasFlag(SecurityMode.SigningRequired), session.SigningRequired);
        var tree = SmbTree.ConnectAsync(session, "127.0.0.1", "share", null, NullLoggerFactory.Instance, CancellationToken.None);
        await server.TreeConnectAsync();
        if (first.Dialect != SmbDialect.Smb311)
        {
            await server.ValidateNegotiateAsync(first.Dialect, first.SecurityMode, first.Capabilities);
        }
        var connected = await tree.WaitAsync(Bound);
        Assert.Equal(first.Dialect != SmbDialect.Smb311, connection.NegotiateValidated);
        connection.AddRecoveryStep(async ct =>
        {
            await session.RecoverAsync(ct);
            await connected.RecoverAsync(ct);
        });
        return (connection, peer, connected, server);
    }

    /// <summary>A repeatable READ-shaped request under the hard mode: it waits through the outage for the reconnect.</summary>
    private static Task<NtStatus> ReadAsync(SmbTree tree) =>
        Replayer.RunAsync(new ReplayRequest<NtStatus>(tree, ReplayRule.Always, "Reading 'a'", CallOptions.Hard)
        {
            Build = _ => new TestRequest(Smb2Command.Read),
            Complete = r => r.Status,
        }, CancellationToken.None);

    /// <summary>The READ goes out, the connection is reset under it, and the client's reconnect is taken.</summary>
    private static async Task<Task<NtStatus>> ReadThenResetAsync(ScriptedPeer peer, SmbTree tree)
    {
        var read = ReadAsync(tree);
        Assert.Equal(Smb2Command.Read, (await peer.ReadRequestAsync()).Header.Command);
        peer.Abort();
        await peer.AcceptAgainAsync();
        return read;
    }

    /// <summary>The answer on the reconnect with one value changed, and how the client's error must describe the change.</summary>
    private static (Answer Changed, string Described) Change(Answer first, string field) => field switch
    {
        "ServerGuid" => (first with { ServerGuid = OtherServerGuid }, $"ServerGuid was {ScriptedSmbServer.ServerGuid}, now {OtherServerGuid}"),
        "SecurityMode" => (first with { SecurityMode = SecurityMode.SigningEnabled },
            "SecurityMode was 0x0003 (SigningEnabled, SigningRequired), now 0x0001 (SigningEnabled)"),
        "Capabilities" => (first with { Capabilities = GlobalCapabilities.LargeMtu },
            "Capabilities was 0x00000006 (Leasing, LargeMtu), now 0x00000004 (LargeMtu)"),
        "dialect" => (first with { Dialect = SmbDialect.Smb300 }, "dialect was 3.0.2, now 3.0"),
        "cipher" => (first with { Cipher = CipherId.Aes128Ccm }, "cipher was Aes128Gcm, now Aes128Ccm"),
        "signing algorithm" => (first with { Signing = Smb2SigningAlgorithmId.AesCmac }, "signing algorithm was AesGmac, now AesCmac"),
        "pre-auth integrity hash algorithm" => (first with { PreauthHash = 0x0002 }, "pre-auth integrity hash algorithm was Sha512, now 2"),
        _ => throw new ArgumentOutOfRangeException(nameof(field), field, null),
    };

    [Theory]
    [InlineData(SmbDialect.Smb302, "ServerGuid")]
    [InlineData(SmbDialect.Smb302, "SecurityMode")]
    [InlineData(SmbDialect.Smb302, "Capabilities")]
    [InlineData(SmbDialect.Smb302, "dialect")]
    [InlineData(SmbDialect.Smb311, "ServerGuid")]
    [InlineData(SmbDialect.Smb311, "SecurityMode")]
    [InlineData(SmbDialect.Smb311, "Capabilities")]
    [InlineData(SmbDialect.Smb311, "cipher")]
    [InlineData(SmbDialect.Smb311, "signing algorithm")]
    [InlineData(SmbDialect.Smb311, "pre-auth integrity hash algorithm")]
    public async Task Reconnect_NegotiateAnswerChanged_RefusedBeforeSessionSetup_ConnectionClosed_WaitingCallGetsSecurityError(SmbDialect dialect, string field)
    {
        var first = Answer.First(dialect);
        var (changed, described) = Change(first, field);
        var (connection, peer, tree, server) = await ConnectedTreeAsync(first);
        await using var _ = connection;
        await using var __ = peer;

        var read = await ReadThenResetAsync(peer, tree);
        await changed.SendAsync(server);

        // Nothing more on that link: no SESSION_SETUP, which on 3.0.2 would have set up a session that does not sign.
        Assert.True(await peer.ClosedByClientWithNothingMoreAsync(), "the client went on after the changed NEGOTIATE answer");
        var error = await Assert.ThrowsAsync<SmbSecurityException>(() => read.WaitAsync(Bound));
        Assert.Contains(described, error.Message, StringComparison.Ordinal);
        Assert.Contains("reconnect", error.Message, StringComparison.Ordinal);
        Assert.Equal(ConnectionState.Closed, connection.State);
        Assert.Equal(0, connection.ReconnectCount);
    }

    [Theory]
    [InlineData(SmbDialect.Smb302)]
    [InlineData(SmbDialect.Smb311)]
    public async Task Reconnect_NegotiateAnswerUnchanged_SessionAndTreeRecovered_RequestSentAgainSigned(SmbDialect dialect)
    {
        var first = Answer.First(dialect);
        var (connection, peer, tree, server) = await ConnectedTreeAsync(first);
        await using var _ = connection;
        await using var __ = peer;

        var read = await ReadThenResetAsync(peer, tree);
        await first.SendAsync(server);
        await server.SessionSetupAsync(dialect);
        await server.TreeConnectAsync(treeId: 6);
        var again = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Read, again.Header.Command);
        Assert.Equal(6u, again.Header.TreeId);
        Assert.True(again.Header.IsSigned, "the recovered session must sign, as the first did");
        Assert.Equal(1, connection.ReconnectCount);
        Assert.Equal(ConnectionState.Ready, connection.State);
        Assert.True(tree.Session.SigningRequired);
        Assert.False(read.IsCompleted);
        peer.Abort(); // no READ answer to script; the call is left to the disposal
    }

    [Fact]
    public async Task Reconnect_Smb311_FinalSessionSetupResponseUnsigned_ConnectionClosed_WaitingCallGetsSecurityError()
    {
        // The NEGOTIATE answer matches; the recovered session's final SESSION_SETUP response arrives unsigned.
        var first = Answer.First(SmbDialect.Smb311) with { SecurityMode = SecurityMode.SigningEnabled };
        var (connection, peer, tree, server) = await ConnectedTreeAsync(first);
        await using var _ = connection;
        await using var __ = peer;

        var read = await ReadThenResetAsync(peer, tree);
        await first.SendAsync(server);
        await server.SessionSetupAsync(SmbDialect.Smb311, signFinal: false);

        Assert.True(await peer.ClosedByClientWithNothingMoreAsync(), "the client used a session whose final SESSION_SETUP response was unsigned");
        var error = await Assert.ThrowsAsync<SmbSecurityException>(() => read.WaitAsync(Bound));
        Assert.Contains("not signed", error.Message, StringComparison.Ordinal);
        Assert.Equal(ConnectionState.Closed, connection.State);
    }

    [Fact]
    public async Task Reconnect_AuthenticatedSessionComesBackAsGuest_RefusedEvenWithAllowGuest_ConnectionClosed()
    {
        // AllowGuest lets a first logon be a guest one; it must not let a signing session come back as an unsigned guest.
        var first = Answer.First(SmbDialect.Smb302);
        var (connection, peer, tree, server) = await ConnectedTreeAsync(first, allowGuest: true);
        await using var _ = connection;
        await using var __ = peer;

        var read = await ReadThenResetAsync(peer, tree);
        await first.SendAsync(server);
        await server.SessionSetupAsync(SmbDialect.Smb302, SessionFlags.IsGuest, signFinal: false);

        Assert.True(await peer.ClosedByClientWithNothingMoreAsync(), "the client went on with the session as guest");
        var error = await Assert.ThrowsAsync<SmbSecurityException>(() => read.WaitAsync(Bound));
        Assert.Contains("as guest", error.Message, StringComparison.Ordinal);
        Assert.Equal(ConnectionState.Closed, connection.State);
    }
}
