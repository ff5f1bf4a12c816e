using System.Security.Cryptography;
using System.Text;

namespace SmbLayer.Security;

/// <summary>NTLMv2 computations (MS-NLMP §3.3.2, §3.4.5). All strings are UTF-16LE.</summary>
internal static class NtlmCrypto
{
    public const int KeySize = 16;
    public const int ChallengeSize = 8;
    public const int NtProofSize = 16;
    public const int MicSize = 16;
    private const byte ResponseVersion = 1;
    private const byte HiResponseVersion = 1;
    private const int TempFixedSize = 28; // RespType, HiRespType, Z(6), Time(8), ClientChallenge(8), Z(4)
    private const int TempTrailerSize = 4; // Z(4) after the AV pairs
    private const int TempTimeOffset = 8;
    private const int TempClientChallengeOffset = 16;

    // MS-NLMP §3.4.5.2 / §3.4.5.3 magic constants; the trailing NUL is part of the hashed string.
    private static ReadOnlySpan<byte> ClientSigningMagic => "session key to client-to-server signing key magic constant\0"u8;
    private static ReadOnlySpan<byte> ServerSigningMagic => "session key to server-to-client signing key magic constant\0"u8;
    private static ReadOnlySpan<byte> ClientSealingMagic => "session key to client-to-server sealing key magic constant\0"u8;
    private static ReadOnlySpan<byte> ServerSealingMagic => "session key to server-to-client sealing key magic constant\0"u8;

    /// <summary>NTOWFv1: MD4 of the UTF-16LE password (the "NT hash").</summary>
    public static byte[] NtHash(string password)
    {
        var bytes = Encoding.Unicode.GetBytes(password);
        try
        {
            return Md4.HashData(bytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>NTOWFv2 = HMAC_MD5(NT hash, UTF-16LE(Uppercase(user) + domain)).</summary>
    public static byte[] NtowfV2(ReadOnlySpan<byte> ntHash, string user, string domain)
    {
        var identity = Encoding.Unicode.GetBytes(user.ToUpperInvariant() + domain);
        return HMACMD5.HashData(ntHash, identity);
    }

    /// <summary>
    /// The NTLMv2_CLIENT_CHALLENGE ("temp" in §3.3.2):
    /// 0x01 0x01 Z(6) Time ClientChallenge Z(4) AvPairs Z(4).
    /// </summary>
    public static byte[] BuildClientChallengeBlob(long fileTime, ReadOnlySpan<byte> clientChallenge, ReadOnlySpan<byte> avPairs)
    {
        if (clientChallenge.Length != ChallengeSize)
        {
            throw new ArgumentException($"Client challenge is {clientChallenge.Length} bytes; need {ChallengeSize}.", nameof(clientChallenge));
        }
        var temp = new byte[TempFixedSize + avPairs.Length + TempTrailerSize];
        temp[0] = ResponseVersion;
        temp[1] = HiResponseVersion;
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(temp.AsSpan(TempTimeOffset), fileTime);
        clientChallenge.CopyTo(temp.AsSpan(TempClientChallengeOffset));
        avPairs.CopyTo(temp.AsSpan(TempFixedSize));
        return temp;
    }

    /// <summary>NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge || temp).</summary>
    public static byte[] NtProofStr(ReadOnlySpan<byte> responseKeyNt, ReadOnlySpan<byte> serverChallenge, ReadOnlySpan<byte> temp)
    {
        var input = new byte[serverChallenge.Length + temp.Length];
        serverChallenge.CopyTo(input);
        temp.CopyTo(input.AsSpan(serverChallenge.Length));
        return HMACMD5.HashData(responseKeyNt, input);
    }

    /// <summary>LMv2 response = HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge) || ClientChallenge.</summary>
    public static byte[] LmV2Response(ReadOnlySpan<byte> responseKeyLm, ReadOnlySpan<byte> serverChallenge, ReadOnlySpan<byte> clientChallenge)
    {
        Span<byte> input = stackalloc byte[ChallengeSize * 2];
        serverChallenge.CopyTo(input);
        clientChallenge.CopyTo(input[ChallengeSize..]);
        var response = new byte[KeySize + ChallengeSize];
        HMACMD5.HashData(responseKeyLm, input, response);
        clientChallenge.CopyTo(response.AsSpan(KeySize));
        return response;
    }

    /// <summary>SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr); for NTLMv2 it is also the KeyExchangeKey.</summary>
    public static byte[] SessionBaseKey(ReadOnlySpan<byte> responseKeyNt, ReadOnlySpan<byte> ntProofStr) =>
        HMACMD5.HashData(responseKeyNt, ntProofStr);

    /// <summary>MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE-with-zero-MIC).</summary>
    public static byte[] Mic(ReadOnlySpan<byte> exportedSessionKey, ReadOnlySpan<byte> negotiate, ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> authenticate)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.MD5, exportedSessionKey);
        hmac.AppendData(negotiate);
        hmac.AppendData(challenge);
        hmac.AppendData(authenticate);
        return hmac.GetHashAndReset();
    }

    /// <summary>SIGNKEY with extended session security (§3.4.5.2).</summary>
    public static byte[] SigningKey(ReadOnlySpan<byte> exportedSessionKey, bool clientToServer) =>
        MagicDigest(exportedSessionKey, clientToServer ? ClientSigningMagic : ServerSigningMagic);

    /// <summary>SEALKEY with extended session security (§3.4.5.3): 128-, 56- or 40-bit key material by flags.</summary>
    public static byte[] SealingKey(ReadOnlySpan<byte> exportedSessionKey, NtlmNegotiateFlags flags, bool clientToServer)
    {
        var keyLength = (flags & NtlmNegotiateFlags.Negotiate128) != 0 ? 16
            : (flags & NtlmNegotiateFlags.Negotiate56) != 0 ? 7
            : 5;
        return MagicDigest(exportedSessionKey[..keyLength], clientToServer ? ClientSealingMagic : ServerSealingMagic);
    }

    private static byte[] MagicDigest(ReadOnlySpan<byte> key, ReadOnlySpan<byte> magic)
    {
        var input = new byte[key.Length + magic.Length];
        key.CopyTo(input);
        magic.CopyTo(input.AsSpan(key.Length));
        var digest = MD5.HashData(input);
        CryptographicOperations.ZeroMemory(input);
        return digest;
    }
}
