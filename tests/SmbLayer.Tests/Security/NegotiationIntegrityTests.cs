using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Protocol;
using SmbLayer.Session;
using SmbLayer.Tests.Transport;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Security;

/// <summary>
/// A man in the middle who alters the unsigned NEGOTIATE is caught: on 3.1.1 by the pre-auth integrity hash
/// (the server signs the final SESSION_SETUP response with a key derived from what it saw), on 3.0/3.0.2 by
/// FSCTL_VALIDATE_NEGOTIATE_INFO. Each tampered case has an untampered twin that succeeds, so the failure is
/// the tampering and not the scripted server.
/// </summary>
public class NegotiationIntegrityTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private const string User = "administrator";
    private const string Domain = "SUT311";
    private const string Password = "Password01!";
    private const int NegotiateCapabilitiesOffset = 64 + 8;

    private static async Task<(SmbConnection, ScriptedPeer, ScriptedSmbServer)> StartAsync(SmbDialect min, SmbDialect max)
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(new ConnectionSettings { MinDialect = min, MaxDialect = max }, markReady: false);
        return (connection, peer, new ScriptedSmbServer(peer, User, Domain, Password));
    }

    /// <summary>What a man in the middle could do: clear the client's capability bits (e.g. to hide encryption support).</summary>
    private static byte[] StripCapabilities(byte[] request)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(NegotiateCapabilitiesOffset), 0);
        return request;
    }

    private static Task<SmbSession> SetupAsync(SmbConnection connection) =>
        SmbSession.SetupAsync(connection, new SessionSetupOptions { Credentials = new SmbCredentials(User, Password, Domain), Workstation = "WS" },
            CancellationToken.None);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Smb311_NegotiateTamperedInFlight_FinalSessionSetupSignatureFails(bool tampered)
    {
        var (connection, peer, server) = await StartAsync(SmbDialect.Smb311, SmbDialect.Smb311);
        await using var _ = connection;
        await using var __ = peer;

        var negotiate = connection.NegotiateAsync(CancellationToken.None);
        await server.NegotiateAsync(SmbDialect.Smb311, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu,
            tampered ? StripCapabilities : null);
        await negotiate.WaitAsync(Bound);

        var setup = SetupAsync(connection);
        await server.SessionSetupAsync(SmbDialect.Smb311);
        if (!tampered)
        {
            var session = await setup.WaitAsync(Bound); // set up: the hashes agreed
            peer.Abort(); // no LOGOFF exchange to script
            await session.DisposeAsync();
            return;
        }
        var ex = await Assert.ThrowsAsync<SmbProtocolException>(() => setup.WaitAsync(Bound));
        Assert.Contains("signature", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("SESSION_SETUP", ex.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Smb311_UnsignedFinalSessionSetup_Refused(bool signed)
    {
        // Neither side requires signing. MS-SMB2 §3.2.5.3.1 still fails an unsigned final response on 3.1.1: its
        // signature is what proves NEGOTIATE was not altered, and leaving it off is all a tamperer would have to do.
        var (connection, peer, server) = await StartAsync(SmbDialect.Smb311, SmbDialect.Smb311);
        await using var _ = connection;
        await using var __ = peer;
        var negotiate = connection.NegotiateAsync(CancellationToken.None);
        await server.NegotiateAsync(SmbDialect.Smb311, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
        await negotiate.WaitAsync(Bound);

        var setup = SetupAsync(connection);
        await server.SessionSetupAsync(SmbDialect.Smb311, signFinal: signed);
        if (signed)
        {
            var session = await setup.WaitAsync(Bound);
            Assert.False(session.SigningRequired);
            peer.Abort(); // no LOGOFF exchange to script
            await session.DisposeAsync();
            return;
        }
        var ex = await Assert.ThrowsAsync<SmbSecurityException>(() => setup.WaitAsync(Bound));
        Assert.Contains("final SESSION_SETUP response", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not signed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Smb311_GuestSession_FinalSessionSetupResponseUnsigned_Accepted()
    {
        // A guest session has no session key, so there is nothing to sign its final response with: unsigned is its normal form.
        var (connection, peer, server) = await StartAsync(SmbDialect.Smb311, SmbDialect.Smb311);
        await using var _ = connection;
        await using var __ = peer;
        var negotiate = connection.NegotiateAsync(CancellationToken.None);
        await server.NegotiateAsync(SmbDialect.Smb311, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
        await negotiate.WaitAsync(Bound);

        var setup = SmbSession.SetupAsync(connection, new SessionSetupOptions
        {
            Credentials = new SmbCredentials(User, Password, Domain),
            Workstation = "WS",
            AllowGuest = true,
        }, CancellationToken.None);
        await server.SessionSetupAsync(SmbDialect.Smb311, SessionFlags.IsGuest, signFinal: false);
        var session = await setup.WaitAsync(Bound);
        Assert.True(session.IsGuest);
        peer.Abort();
        await session.DisposeAsync();
    }

    /// <summary>
    /// NEGOTIATE (the client sees <paramref name="securityMode"/>), SESSION_SETUP, then a TREE_CONNECT whose
    /// answer has gone out: the client's next request is its VALIDATE_NEGOTIATE_INFO, for the test to answer.
    /// </summary>
    private static async Task<(SmbSession Session, Task<SmbTree> Tree)> SessionThenTreeConnectAsync(SmbConnection connection,
        ScriptedSmbServer server, SmbDialect dialect, SecurityMode securityMode, GlobalCapabilities caps)
    {
        var negotiate = connection.NegotiateAsync(CancellationToken.None);
        await server.NegotiateAsync(dialect, securityMode, caps);
        await negotiate.WaitAsync(Bound);
        var setup = SetupAsync(connection);
        await server.SessionSetupAsync(dialect);
        var session = await setup.WaitAsync(Bound);
        var tree = SmbTree.ConnectAsync(session, "127.0.0.1", "share", null, NullLoggerFactory.Instance, CancellationToken.None);
        await server.TreeConnectAsync();
        return (session, tree);
    }

    [Theory]
    [InlineData(SmbDialect.Smb300, false)]
    [InlineData(SmbDialect.Smb300, true)]
    [InlineData(SmbDialect.Smb302, false)]
    [InlineData(SmbDialect.Smb302, true)]
    public async Task Smb30x_SigningRequirementStrippedFromNegotiate_ValidateNegotiateDropsConnection(SmbDialect dialect, bool tampered)
    {
        var (connection, peer, server) = await StartAsync(SmbDialect.Smb300, dialect);
        await using var _ = connection;
        await using var __ = peer;
        const GlobalCapabilities caps = GlobalCapabilities.LargeMtu | GlobalCapabilities.Leasing;
        var real = SecurityMode.SigningEnabled | SecurityMode.SigningRequired;
        // The man in the middle rewrote the server's SecurityMode so the client would not sign.
        var seenByClient = tampered ? SecurityMode.SigningEnabled : real;

        var (session, tree) = await SessionThenTreeConnectAsync(connection, server, dialect, seenByClient, caps);
        await server.ValidateNegotiateAsync(dialect, real, caps);
        if (!tampered)
        {
            var t = await tree.WaitAsync(Bound);
            Assert.True(connection.NegotiateValidated);
            peer.Abort(); // no TREE_DISCONNECT / LOGOFF exchange to script
            await t.DisposeAsync();
            await session.DisposeAsync();
            return;
        }
        var ex = await Assert.ThrowsAsync<SmbSecurityException>(() => tree.WaitAsync(Bound));
        Assert.Contains("VALIDATE_NEGOTIATE_INFO", ex.Message);
        Assert.Contains("security mode", ex.Message);
        Assert.Equal(ConnectionState.Closed, connection.State);
        await session.DisposeAsync();
    }

    [Theory]
    [InlineData(NtStatus.NotSupported, true, true)]
    [InlineData(NtStatus.InvalidDeviceRequest, true, true)]
    [InlineData(NtStatus.FileClosed, true, true)]
    [InlineData(NtStatus.NotSupported, false, false)] // unsigned: anyone could have sent it (§3.2.5.14.12)
    [InlineData(NtStatus.AccessDenied, true, false)] // §3.2.5.14.12: terminate
    [InlineData(NtStatus.InvalidParameter, true, false)]
    public async Task Smb30x_ValidateNegotiateAnsweredWithError_AcceptedOnlyWhenSignedAndUnsupported(NtStatus status, bool signed, bool accepted)
    {
        const SmbDialect dialect = SmbDialect.Smb300;
        var (connection, peer, server) = await StartAsync(SmbDialect.Smb300, dialect);
        await using var _ = connection;
        await using var __ = peer;
        var (session, tree) = await SessionThenTreeConnectAsync(connection, server, dialect, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
        await server.ValidateNegotiateErrorAsync(dialect, status, signed);
        if (accepted)
        {
            var t = await tree.WaitAsync(Bound);
            Assert.Equal(ConnectionState.Ready, connection.State);
            peer.Abort(); // no TREE_DISCONNECT / LOGOFF exchange to script
            await t.DisposeAsync();
            await session.DisposeAsync();
            return;
        }
        var ex = await Assert.ThrowsAnyAsync<SmbException>(() => tree.WaitAsync(Bound));
        Assert.True(ex is SmbSecurityException or SmbProtocolException, ex.ToString());
        // An unsigned answer fails its request first and the connection right after, on the reader: wait for that (bounded).
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (connection.State != ConnectionState.Closed && waited.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10);
        }
        Assert.Equal(ConnectionState.Closed, connection.State);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task Smb311_ServerPicksCipherNotOffered_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(
            new ConnectionSettings { MinDialect = SmbDialect.Smb311, Ciphers = [CipherId.Aes128Gcm] }, markReady: false);
        await using var _ = connection;
        await using var __ = peer;
        var negotiate = connection.NegotiateAsync(CancellationToken.None);
        var request = await peer.ReadRequestAsync();
        var body = new Protocol.WireTestHelpers.Le().U16(65).U16(1).U16(0x311).U16(2)
            .Guid(Guid.NewGuid()).U32(0).U32(1 << 20).U32(1 << 20).U32(1 << 20).U64(0).U64(0)
            .U16(0).U16(0).U32(128)
            .U16(1).U16(38).U32(0).U16(1).U16(32).U16(1).Zeros(32).PadTo8()
            .U16(2).U16(4).U32(0).U16(1).U16((int)CipherId.Aes256Ccm)
            .ToArray();
        var response = ScriptedPeer.Response(request, body: body);
        await peer.SendMessagesAsync(response);
        var ex = await Assert.ThrowsAsync<SmbProtocolException>(() => negotiate.WaitAsync(Bound));
        Assert.Contains("not offered", ex.Message);
    }
}
