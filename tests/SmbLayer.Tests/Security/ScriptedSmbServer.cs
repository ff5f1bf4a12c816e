using System.Buffers.Binary;
using SmbLayer.Protocol;
using SmbLayer.Security;
using SmbLayer.Tests.Transport;
using static SmbLayer.Tests.Protocol.WireTestHelpers;

namespace SmbLayer.Tests.Security;

/// <summary>
/// Plays an SMB server's side of NEGOTIATE, SESSION_SETUP (NTLMv2 in SPNEGO, with the server's own key
/// computation from the password, MS-NLMP §3.2.5.1.2) and TREE_CONNECT over a <see cref="ScriptedPeer"/>,
/// so tests can change what the server "saw" and check that the client notices.
/// </summary>
internal sealed class ScriptedSmbServer(ScriptedPeer peer, string user, string domain, string password)
{
    // The NTLM CHALLENGE used by the SPNEGO tests (server challenge 0D1D8BA31179D008, with a timestamp).
    private const string ChallengeToken =
        "A181B03081ADA0030A0101A10C060A2B06010401823702020AA281970481944E544C4D53535000020000000C000C003800000015828AE2" +
        "0D1D8BA31179D008000000000000000050005000440000000A0092270000000F53005500540033003100310002000C00530055005400" +
        "33003100310001000C0053005500540033003100310004000C0053005500540033003100310003000C0053005500540033003100310007" +
        "000800A1A1F5ADCBAED00100000000";
    private static readonly byte[] ServerChallenge = Convert.FromHexString("0D1D8BA31179D008");
    public const ulong SessionId = 0x0000_4400_0000_0011;
    public static readonly Guid ServerGuid = new("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");

    private PreauthIntegrityHash? _hash;
    private SmbDialect _dialect = SmbDialect.Smb300;
    private Smb2SigningAlgorithmId _signing = Smb2SigningAlgorithmId.AesGmac;

    /// <summary>The PreviousSessionId of the last SESSION_SETUP exchange's first request.</summary>
    public ulong PreviousSessionId { get; private set; }

    /// <summary>The signing key the server derived (what it believes the session's key is).</summary>
    public byte[] SigningKey { get; private set; } = [];

    /// <summary>
    /// Answers NEGOTIATE. <paramref name="tamper"/> models a man in the middle: the server hashes the request
    /// as the tamperer changed it, while the client hashed what it really sent. On 3.1.1 the answer carries a
    /// pre-auth integrity context (<paramref name="preauthHash"/>, SHA-512 by default), a signing context
    /// (<paramref name="signing"/>) and, unless <paramref name="cipher"/> is None, an encryption context.
    /// </summary>
    public async Task NegotiateAsync(SmbDialect dialect, SecurityMode securityMode, GlobalCapabilities capabilities, Func<byte[], byte[]>? tamper = null,
        Guid? serverGuid = null, CipherId cipher = CipherId.None, Smb2SigningAlgorithmId signing = Smb2SigningAlgorithmId.AesGmac,
        ushort preauthHash = (ushort)PreauthHashAlgorithm.Sha512)
    {
        var request = await peer.ReadRequestAsync();
        var seen = tamper?.Invoke((byte[])request.Message.Clone()) ?? request.Message;
        _dialect = dialect;
        _signing = signing;
        var body = new Le().U16(65).U16((int)securityMode).U16((int)dialect).U16(dialect != SmbDialect.Smb311 ? 0 : cipher == CipherId.None ? 2 : 3)
            .Guid(serverGuid ?? ServerGuid).U32((uint)capabilities).U32(1 << 20).U32(1 << 20).U32(1 << 20).U64(0).U64(0)
            .U16(0).U16(0).U32(dialect == SmbDialect.Smb311 ? 128u : 0u);
        if (dialect == SmbDialect.Smb311)
        {
            // Pre-auth integrity (32-byte salt), then the cipher if any, then signing capabilities.
            body.U16(1).U16(38).U32(0).U16(1).U16(32).U16(preauthHash).Zeros(32).PadTo8();
            if (cipher != CipherId.None)
            {
                body.U16(2).U16(4).U32(0).U16(1).U16((int)cipher).PadTo8();
            }
            body.U16(8).U16(4).U32(0).U16(1).U16((int)signing);
        }
        var response = Reply(request, NtStatus.Success, body.ToArray());
        if (dialect == SmbDialect.Smb311)
        {
            _hash = new PreauthIntegrityHash();
            _hash.Update(seen);
            _hash.Update(response);
        }
        await peer.SendMessagesAsync(response);
    }

    /// <summary>
    /// Runs both SESSION_SETUP legs; the final response is signed with the key the server derived, unless
    /// <paramref name="signFinal"/> is false (what someone on the path who strips the signature would deliver).
    /// </summary>
    /// <param name="reauthenticate">
    /// The client re-authenticates the existing session (MS-SMB2 §3.2.4.2.3): its requests must name
    /// <see cref="SessionId"/>, and the session keeps its key (the final answer is signed with it).
    /// </param>
    /// <param name="finalStatus">What the last leg is answered (a refused re-authentication: LOGON_FAILURE).</param>
    public async Task SessionSetupAsync(SmbDialect dialect, SessionFlags flags = 0, bool signFinal = true, bool reauthenticate = false,
        NtStatus finalStatus = NtStatus.Success)
    {
        var first = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.SessionSetup, first.Header.Command);
        Assert.Equal(reauthenticate ? SessionId : 0ul, first.Header.SessionId);
        PreviousSessionId = BinaryPrimitives.ReadUInt64LittleEndian(first.Message.AsSpan(Smb2Header.Size + 16));
        _hash?.Update(first.Message);
        var challenge = Convert.FromHexString(ChallengeToken);
        var more = Reply(first, NtStatus.MoreProcessingRequired,
            new Le().U16(9).U16(0).U16(72).U16(challenge.Length).Raw(challenge).ToArray(), SessionId);
        _hash?.Update(more);
        await peer.SendMessagesAsync(more);

        var second = await peer.ReadRequestAsync();
        _hash?.Update(second.Message);
        var offset = BinaryPrimitives.ReadUInt16LittleEndian(second.Message.AsSpan(64 + 12));
        var length = BinaryPrimitives.ReadUInt16LittleEndian(second.Message.AsSpan(64 + 14));
        var authenticate = SpnegoTokens.DecodeNegTokenResp(second.Message.AsSpan(offset, length).ToArray()).ResponseToken!;
        var responseKey = NtlmCrypto.NtowfV2(NtlmCrypto.NtHash(password), user, domain);
        var nt = Field(authenticate, 20);
        var proof = NtlmCrypto.NtProofStr(responseKey, ServerChallenge, nt.AsSpan(16));
        var exported = Rc4.Transform(NtlmCrypto.SessionBaseKey(responseKey, proof), Field(authenticate, 52));
        Assert.Equal(SessionId, second.Header.SessionId);
        if (!reauthenticate)
        {
            using var keys = Smb3KeyDerivation.Derive(exported, dialect, _hash is null ? default : _hash.Value);
            SigningKey = (byte[])keys.SigningKey.Clone();
        }
        if (finalStatus != NtStatus.Success)
        {
            await peer.SendMessagesAsync(Reply(second, finalStatus, new Le().U16(9).U8(0).U8(0).U32(0).ToArray(), SessionId));
            return;
        }

        var final = Reply(second, NtStatus.Success, new Le().U16(9).U16((int)flags).U16(72).U16(0).U8(0).ToArray(), SessionId);
        if (signFinal)
        {
            Sign(final, dialect);
        }
        await peer.SendMessagesAsync(final);
    }

    /// <summary>Answers TREE_CONNECT (a disk share).</summary>
    public async Task TreeConnectAsync(uint treeId = 5, ShareFlags shareFlags = 0)
    {
        var request = await peer.ReadRequestAsync();
        var response = Reply(request, NtStatus.Success, new Le().U16(16).U8(1).U8(0).U32((uint)shareFlags).U32(0).U32(0x001F01FF).ToArray(), SessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(response.AsSpan(36), treeId);
        if (request.Header.IsSigned)
        {
            Sign(response, _dialect);
        }
        await peer.SendMessagesAsync(response);
    }

    /// <summary>Answers FSCTL_VALIDATE_NEGOTIATE_INFO with the given "real" values, signed.</summary>
    public async Task ValidateNegotiateAsync(SmbDialect dialect, SecurityMode securityMode, GlobalCapabilities capabilities)
    {
        var request = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Ioctl, request.Header.Command);
        Assert.True(request.Header.IsSigned, "VALIDATE_NEGOTIATE_INFO must be signed");
        var response = Reply(request, NtStatus.Success, new Le()
            .U16(49).U16(0).U32(0x00140204).U64(ulong.MaxValue).U64(ulong.MaxValue)
            .U32(112).U32(0).U32(112).U32(24).U32(0).U32(0)
            .U32((uint)capabilities).Guid(ServerGuid).U16((int)securityMode).U16((int)dialect)
            .ToArray(), SessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(response.AsSpan(36), request.Header.TreeId);
        Sign(response, dialect);
        await peer.SendMessagesAsync(response);
    }

    /// <summary>Answers FSCTL_VALIDATE_NEGOTIATE_INFO with an error status, signed or not.</summary>
    public async Task ValidateNegotiateErrorAsync(SmbDialect dialect, NtStatus status, bool signed)
    {
        var request = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Ioctl, request.Header.Command);
        var response = Reply(request, status, new Le().U16(9).U8(0).U8(0).U32(0).U8(0).ToArray(), SessionId);
        BinaryPrimitives.WriteUInt32LittleEndian(response.AsSpan(36), request.Header.TreeId);
        if (signed)
        {
            Sign(response, dialect);
        }
        await peer.SendMessagesAsync(response);
    }

    private void Sign(byte[] message, SmbDialect dialect)
    {
        var algorithm = dialect == SmbDialect.Smb311 ? (SigningAlgorithm)_signing : dialect.IsSmb3() ? SigningAlgorithm.AesCmac : SigningAlgorithm.HmacSha256;
        using var signer = Smb2Signer.Create(algorithm, SigningKey);
        signer.Sign(message);
    }

    private static byte[] Reply(ReceivedMessage request, NtStatus status, byte[] body, ulong sessionId = 0)
    {
        var message = Response(request.Header.Command, body, status);
        var header = Smb2Header.ReadFrom(message) with { MessageId = request.Header.MessageId, SessionId = sessionId, Credits = 64 };
        header.WriteTo(message);
        return message;
    }

    private static byte[] Field(byte[] message, int fieldsOffset)
    {
        var length = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(fieldsOffset));
        var offset = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(fieldsOffset + 4));
        return message.AsSpan(offset, length).ToArray();
    }
}
