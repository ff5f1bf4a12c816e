using System.Security.Cryptography;

namespace SmbLayer.Security;

/// <summary>
/// Client side of one NTLMv2 exchange (MS-NLMP §3.1.5.1): NEGOTIATE → CHALLENGE → AUTHENTICATE, producing the
/// ExportedSessionKey and the message-integrity state. Holds only the NTOWFv2 of the password, never the password;
/// <see cref="ToString"/> shows only domain and user.
/// </summary>
internal sealed class NtlmClient : IDisposable
{
    /// <summary>Flags this client asks for in NEGOTIATE_MESSAGE.</summary>
    public const NtlmNegotiateFlags RequestedFlags =
        NtlmNegotiateFlags.Unicode | NtlmNegotiateFlags.RequestTarget | NtlmNegotiateFlags.Sign
        | NtlmNegotiateFlags.Seal | NtlmNegotiateFlags.Ntlm | NtlmNegotiateFlags.AlwaysSign
        | NtlmNegotiateFlags.ExtendedSessionSecurity | NtlmNegotiateFlags.TargetInfo | NtlmNegotiateFlags.Version
        | NtlmNegotiateFlags.Negotiate128 | NtlmNegotiateFlags.KeyExchange | NtlmNegotiateFlags.Negotiate56;

    private const int LmResponseSizeWithTimestamp = 24;

    private readonly string _user;
    private readonly string _domain;
    private readonly string _workstation;
    private readonly byte[] _responseKeyNt;
    private readonly Action<Span<byte>> _fillRandom;
    private readonly Func<long> _utcNowFileTime;
    private byte[]? _negotiateMessage;
    private byte[] _exportedSessionKey = [];
    private NtlmSessionSecurity? _security;
    private bool _disposed;

    /// <param name="fillRandom">Source of the client challenge then the random session key; tests pass a fixed one.</param>
    /// <param name="utcNowFileTime">Clock used when the server sends no MsvAvTimestamp.</param>
    public NtlmClient(string user, string domain, string password, string workstation,
        Action<Span<byte>>? fillRandom = null, Func<long>? utcNowFileTime = null)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(workstation);
        _user = user;
        _domain = domain;
        _workstation = workstation;
        IsAnonymous = user.Length == 0 && password.Length == 0;
        if (IsAnonymous)
        {
            _responseKeyNt = [];
        }
        else
        {
            var ntHash = NtlmCrypto.NtHash(password);
            _responseKeyNt = NtlmCrypto.NtowfV2(ntHash, user, domain);
            CryptographicOperations.ZeroMemory(ntHash);
        }
        _fillRandom = fillRandom ?? RandomNumberGenerator.Fill;
        _utcNowFileTime = utcNowFileTime ?? (() => DateTime.UtcNow.ToFileTimeUtc());
    }

    /// <summary>True for the anonymous (null user, null password) exchange of MS-NLMP §3.2.5.1.2.</summary>
    public bool IsAnonymous { get; }

    /// <summary>The flags both sides agreed on, once the CHALLENGE has been processed.</summary>
    public NtlmNegotiateFlags NegotiatedFlags { get; private set; }

    /// <summary>ExportedSessionKey (16 bytes) after <see cref="CreateAuthenticate"/>; empty for anonymous.</summary>
    public ReadOnlySpan<byte> ExportedSessionKey => _exportedSessionKey;

    /// <summary>Message integrity for SPNEGO's mechListMIC; null for anonymous or before authentication.</summary>
    public NtlmSessionSecurity? Security => _security;

    /// <summary>The NEGOTIATE_MESSAGE (kept for the MIC).</summary>
    public byte[] CreateNegotiate()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_negotiateMessage is not null)
        {
            throw new InvalidOperationException("NTLM NEGOTIATE_MESSAGE already created for this exchange.");
        }
        _negotiateMessage = NtlmMessages.BuildNegotiate(RequestedFlags);
        return (byte[])_negotiateMessage.Clone();
    }

    /// <summary>Processes the server's CHALLENGE_MESSAGE and returns the AUTHENTICATE_MESSAGE.</summary>
    public byte[] CreateAuthenticate(ReadOnlySpan<byte> challengeMessage)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_negotiateMessage is null)
        {
            throw new InvalidOperationException("NTLM CHALLENGE processed before NEGOTIATE was created.");
        }
        if (_security is not null || _exportedSessionKey.Length != 0)
        {
            throw new SmbProtocolException("NTLM received a second CHALLENGE_MESSAGE in one exchange.");
        }
        var challenge = NtlmMessages.ParseChallenge(challengeMessage);
        if ((challenge.Flags & NtlmNegotiateFlags.Unicode) == 0)
        {
            throw new SmbSecurityException("NTLM server did not accept Unicode strings; OEM-only servers are not supported.");
        }
        if (!IsAnonymous && (challenge.Flags & NtlmNegotiateFlags.ExtendedSessionSecurity) == 0)
        {
            throw new SmbSecurityException("NTLM server did not negotiate extended session security; refusing weaker NTLM.");
        }
        var flags = challenge.Flags & RequestedFlags;
        return IsAnonymous
            ? CreateAnonymousAuthenticate(flags)
            : CreateNtlmV2Authenticate(challenge, challengeMessage, flags);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        CryptographicOperations.ZeroMemory(_responseKeyNt);
        CryptographicOperations.ZeroMemory(_exportedSessionKey);
        _security?.Dispose();
    }

    public override string ToString() =>
        IsAnonymous ? "NtlmClient(anonymous)" : $"NtlmClient({(_domain.Length > 0 ? _domain + "\\" : "")}{_user})";

    // MS-NLMP §3.3.2 anonymous case: empty NT response, LM response Z(1), no key exchange, no session key.
    private byte[] CreateAnonymousAuthenticate(NtlmNegotiateFlags flags)
    {
        flags = (flags & ~NtlmNegotiateFlags.KeyExchange) | NtlmNegotiateFlags.Anonymous;
        NegotiatedFlags = flags;
        return NtlmMessages.BuildAuthenticate(flags, new byte[1], [], "", "", _workstation, []);
    }

    private byte[] CreateNtlmV2Authenticate(NtlmChallenge challenge, ReadOnlySpan<byte> challengeMessage, NtlmNegotiateFlags flags)
    {
        NegotiatedFlags = flags;
        Span<byte> clientChallenge = stackalloc byte[NtlmCrypto.ChallengeSize];
        _fillRandom(clientChallenge);

        // §3.1.5.1.2: use the server's time when it sends one; then the MIC is expected and LM is Z(24).
        var hasTimestamp = challenge.Timestamp.HasValue;
        var time = challenge.Timestamp ?? _utcNowFileTime();
        var avPairs = NtlmMessages.BuildClientAvPairs(challenge.TargetInfo, setMicFlag: hasTimestamp);
        var temp = NtlmCrypto.BuildClientChallengeBlob(time, clientChallenge, avPairs);
        var ntProofStr = NtlmCrypto.NtProofStr(_responseKeyNt, challenge.ServerChallenge, temp);
        byte[] ntResponse = [.. ntProofStr, .. temp];
        var lmResponse = hasTimestamp
            ? new byte[LmResponseSizeWithTimestamp]
            : NtlmCrypto.LmV2Response(_responseKeyNt, challenge.ServerChallenge, clientChallenge);

        var keyExchangeKey = NtlmCrypto.SessionBaseKey(_responseKeyNt, ntProofStr);
        byte[] encryptedRandomSessionKey;
        if ((flags & NtlmNegotiateFlags.KeyExchange) != 0
            && (flags & (NtlmNegotiateFlags.Sign | NtlmNegotiateFlags.Seal)) != 0)
        {
            _exportedSessionKey = new byte[NtlmCrypto.KeySize];
            _fillRandom(_exportedSessionKey);
            encryptedRandomSessionKey = Rc4.Transform(keyExchangeKey, _exportedSessionKey);
            CryptographicOperations.ZeroMemory(keyExchangeKey);
        }
        else
        {
            _exportedSessionKey = keyExchangeKey;
            encryptedRandomSessionKey = [];
        }

        var authenticate = NtlmMessages.BuildAuthenticate(
            flags, lmResponse, ntResponse, _domain, _user, _workstation, encryptedRandomSessionKey);
        if (hasTimestamp)
        {
            var mic = NtlmCrypto.Mic(_exportedSessionKey, _negotiateMessage, challengeMessage, authenticate);
            mic.CopyTo(authenticate.AsSpan(NtlmMessages.AuOffMic));
        }
        _security = new NtlmSessionSecurity(_exportedSessionKey, flags);
        return authenticate;
    }
}
