using System.Buffers.Binary;
using System.Security.Cryptography;

namespace SmbLayer.Security;

/// <summary>
/// NTLM message integrity with extended session security (MS-NLMP §3.4.4.2): signatures for GSS_GetMIC /
/// GSS_VerifyMIC, as SPNEGO's mechListMIC needs. Each direction has its own signing key, RC4 sealing handle
/// and sequence number. Not thread-safe.
/// </summary>
internal sealed class NtlmSessionSecurity : IDisposable
{
    public const int SignatureSize = 16;
    private const uint SignatureVersion = 1;
    private const int ChecksumSize = 8;
    private const int OffChecksum = 4;
    private const int OffSeqNum = 12;
    private const int SeqNumSize = 4;

    private readonly byte[] _clientSigningKey;
    private readonly byte[] _serverSigningKey;
    private readonly Rc4 _clientSealing;
    private readonly Rc4 _serverSealing;
    private readonly bool _keyExchange;
    private uint _clientSeqNum;
    private uint _serverSeqNum;

    public NtlmSessionSecurity(ReadOnlySpan<byte> exportedSessionKey, NtlmNegotiateFlags flags)
    {
        if ((flags & NtlmNegotiateFlags.ExtendedSessionSecurity) == 0)
        {
            throw new SmbSecurityException("NTLM signing without extended session security is not supported.");
        }
        _keyExchange = (flags & NtlmNegotiateFlags.KeyExchange) != 0;
        _clientSigningKey = NtlmCrypto.SigningKey(exportedSessionKey, clientToServer: true);
        _serverSigningKey = NtlmCrypto.SigningKey(exportedSessionKey, clientToServer: false);
        var clientSealingKey = NtlmCrypto.SealingKey(exportedSessionKey, flags, clientToServer: true);
        var serverSealingKey = NtlmCrypto.SealingKey(exportedSessionKey, flags, clientToServer: false);
        _clientSealing = new Rc4(clientSealingKey);
        _serverSealing = new Rc4(serverSealingKey);
        CryptographicOperations.ZeroMemory(clientSealingKey);
        CryptographicOperations.ZeroMemory(serverSealingKey);
    }

    /// <summary>Signs <paramref name="message"/> as the client (GSS_GetMIC) and advances the client sequence number.</summary>
    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        var signature = new byte[SignatureSize];
        MakeSignature(_clientSigningKey, _clientSealing, _clientSeqNum, message, signature);
        _clientSeqNum++;
        return signature;
    }

    /// <summary>Checks a server signature (GSS_VerifyMIC) and advances the server sequence number.</summary>
    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        Span<byte> expected = stackalloc byte[SignatureSize];
        MakeSignature(_serverSigningKey, _serverSealing, _serverSeqNum, message, expected);
        _serverSeqNum++;
        return signature.Length == SignatureSize && CryptographicOperations.FixedTimeEquals(expected, signature);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_clientSigningKey);
        CryptographicOperations.ZeroMemory(_serverSigningKey);
        _clientSealing.Dispose();
        _serverSealing.Dispose();
    }

    // Version(4) = 1 || Checksum(8) = HMAC_MD5(SigningKey, SeqNum || Message)[0..7], RC4-sealed under KEY_EXCH || SeqNum(4).
    private void MakeSignature(byte[] signingKey, Rc4 sealing, uint seqNum, ReadOnlySpan<byte> message, Span<byte> signature)
    {
        Span<byte> seq = stackalloc byte[SeqNumSize];
        BinaryPrimitives.WriteUInt32LittleEndian(seq, seqNum);
        Span<byte> hmac = stackalloc byte[NtlmCrypto.KeySize];
        using (var h = IncrementalHash.CreateHMAC(HashAlgorithmName.MD5, signingKey))
        {
            h.AppendData(seq);
            h.AppendData(message);
            h.GetHashAndReset(hmac);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(signature, SignatureVersion);
        var checksum = signature.Slice(OffChecksum, ChecksumSize);
        hmac[..ChecksumSize].CopyTo(checksum);
        if (_keyExchange)
        {
            sealing.Transform(checksum, checksum);
        }
        seq.CopyTo(signature[OffSeqNum..]);
    }
}
