using System.Buffers.Binary;
using System.Text;

namespace SmbLayer.Security;

/// <summary>A parsed CHALLENGE_MESSAGE (MS-NLMP §2.2.1.2).</summary>
internal sealed class NtlmChallenge
{
    public required NtlmNegotiateFlags Flags { get; init; }
    public required byte[] ServerChallenge { get; init; }
    /// <summary>The raw TargetInfo AV pair list (terminated by MsvAvEOL), or empty.</summary>
    public required byte[] TargetInfo { get; init; }
    public required string TargetName { get; init; }
    /// <summary>MsvAvTimestamp from TargetInfo, when present.</summary>
    public long? Timestamp { get; init; }
}

/// <summary>NTLM message encoding and decoding (MS-NLMP §2.2.1). Decoders validate every length and offset.</summary>
internal static class NtlmMessages
{
    public const uint NegotiateType = 1;
    public const uint ChallengeType = 2;
    public const uint AuthenticateType = 3;

    private const int SignatureSize = 8;
    private const int OffMessageType = 8;
    private const int FieldsSize = 8; // Len(2) MaxLen(2) Offset(4)
    private const int VersionSize = 8;

    // NEGOTIATE_MESSAGE: Signature, MessageType, NegotiateFlags, DomainNameFields, WorkstationFields, Version.
    private const int NegOffFlags = 12;
    private const int NegOffDomainFields = 16;
    private const int NegOffWorkstationFields = 24;
    private const int NegOffVersion = 32;
    private const int NegotiateSize = 40;

    // CHALLENGE_MESSAGE.
    private const int ChOffTargetNameFields = 12;
    private const int ChOffFlags = 20;
    private const int ChOffServerChallenge = 24;
    private const int ChOffTargetInfoFields = 40;
    private const int ChallengeMinSize = 48; // through TargetInfoFields; Version is optional

    // AUTHENTICATE_MESSAGE.
    private const int AuOffLmFields = 12;
    private const int AuOffNtFields = 20;
    private const int AuOffDomainFields = 28;
    private const int AuOffUserFields = 36;
    private const int AuOffWorkstationFields = 44;
    private const int AuOffSessionKeyFields = 52;
    private const int AuOffFlags = 60;
    private const int AuOffVersion = 64;
    public const int AuOffMic = 72;
    private const int AuthenticateHeaderSize = 88;

    private const int AvHeaderSize = 4;
    private const int TimestampSize = 8;
    private const int AvFlagsSize = 4;
    /// <summary>MsvAvFlags bit: the AUTHENTICATE_MESSAGE carries a MIC.</summary>
    public const uint AvFlagMicPresent = 0x00000002;

    public static ReadOnlySpan<byte> Signature => "NTLMSSP\0"u8;

    /// <summary>VERSION (§2.2.2.10): 10.0 build 20348, NTLMSSP_REVISION_W2K3. Informational only.</summary>
    private static ReadOnlySpan<byte> ClientVersion => [10, 0, 0x7C, 0x4F, 0, 0, 0, 0x0F];

    /// <summary>A NEGOTIATE_MESSAGE with no domain or workstation supplied.</summary>
    public static byte[] BuildNegotiate(NtlmNegotiateFlags flags)
    {
        var message = new byte[NegotiateSize];
        Signature.CopyTo(message);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(OffMessageType), NegotiateType);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(NegOffFlags), (uint)flags);
        WriteFields(message, NegOffDomainFields, 0, NegotiateSize);
        WriteFields(message, NegOffWorkstationFields, 0, NegotiateSize);
        ClientVersion.CopyTo(message.AsSpan(NegOffVersion));
        return message;
    }

    /// <summary>Parses and validates a CHALLENGE_MESSAGE; throws <see cref="SmbProtocolException"/> on malformed input.</summary>
    public static NtlmChallenge ParseChallenge(ReadOnlySpan<byte> message)
    {
        if (message.Length < ChallengeMinSize)
        {
            throw new SmbProtocolException($"NTLM CHALLENGE_MESSAGE truncated: {message.Length} bytes, need at least {ChallengeMinSize}.");
        }
        if (!message[..SignatureSize].SequenceEqual(Signature))
        {
            throw new SmbProtocolException("NTLM CHALLENGE_MESSAGE has a bad signature (expected \"NTLMSSP\\0\").");
        }
        var type = BinaryPrimitives.ReadUInt32LittleEndian(message[OffMessageType..]);
        if (type != ChallengeType)
        {
            throw new SmbProtocolException($"NTLM message type is {type}, expected CHALLENGE_MESSAGE ({ChallengeType}).");
        }
        var flags = (NtlmNegotiateFlags)BinaryPrimitives.ReadUInt32LittleEndian(message[ChOffFlags..]);
        var targetName = ReadField(message, ChOffTargetNameFields, "TargetName");
        var targetInfo = ReadField(message, ChOffTargetInfoFields, "TargetInfo");
        long? timestamp = null;
        if (!targetInfo.IsEmpty)
        {
            timestamp = ValidateAvPairs(targetInfo);
        }
        return new NtlmChallenge
        {
            Flags = flags,
            ServerChallenge = message.Slice(ChOffServerChallenge, NtlmCrypto.ChallengeSize).ToArray(),
            TargetInfo = targetInfo.ToArray(),
            TargetName = (flags & NtlmNegotiateFlags.Unicode) != 0
                ? Encoding.Unicode.GetString(targetName)
                : Encoding.ASCII.GetString(targetName),
            Timestamp = timestamp,
        };
    }

    /// <summary>
    /// Checks an AV pair list: every pair inside the buffer, terminated by MsvAvEOL, fixed-size values of the
    /// right length. Returns MsvAvTimestamp when present.
    /// </summary>
    public static long? ValidateAvPairs(ReadOnlySpan<byte> pairs)
    {
        long? timestamp = null;
        var offset = 0;
        while (true)
        {
            if (pairs.Length - offset < AvHeaderSize)
            {
                throw new SmbProtocolException($"NTLM TargetInfo AV pair header at offset {offset} runs past the {pairs.Length}-byte list (no MsvAvEOL).");
            }
            var id = (NtlmAvId)BinaryPrimitives.ReadUInt16LittleEndian(pairs[offset..]);
            var length = BinaryPrimitives.ReadUInt16LittleEndian(pairs[(offset + 2)..]);
            var valueAt = offset + AvHeaderSize;
            if (length > pairs.Length - valueAt)
            {
                throw new SmbProtocolException($"NTLM TargetInfo AV pair {id} length {length} at offset {offset} exceeds the {pairs.Length}-byte list.");
            }
            if (id == NtlmAvId.Eol)
            {
                return timestamp;
            }
            if (id == NtlmAvId.Timestamp)
            {
                if (length != TimestampSize)
                {
                    throw new SmbProtocolException($"NTLM MsvAvTimestamp length is {length}, expected {TimestampSize}.");
                }
                timestamp = BinaryPrimitives.ReadInt64LittleEndian(pairs[valueAt..]);
            }
            else if (id == NtlmAvId.Flags && length != AvFlagsSize)
            {
                throw new SmbProtocolException($"NTLM MsvAvFlags length is {length}, expected {AvFlagsSize}.");
            }
            offset = valueAt + length;
        }
    }

    /// <summary>
    /// The AV pairs the client puts in its NTLMv2 response: the server's pairs in order, with MsvAvFlags
    /// given the MIC bit when <paramref name="setMicFlag"/> (added before MsvAvEOL when absent), then MsvAvEOL.
    /// The input must already be validated by <see cref="ValidateAvPairs"/>.
    /// </summary>
    public static byte[] BuildClientAvPairs(ReadOnlySpan<byte> serverPairs, bool setMicFlag)
    {
        var output = new List<byte>(serverPairs.Length + 16);
        var sawFlags = false;
        var offset = 0;
        Span<byte> header = stackalloc byte[AvHeaderSize];
        while (serverPairs.Length - offset >= AvHeaderSize)
        {
            var id = (NtlmAvId)BinaryPrimitives.ReadUInt16LittleEndian(serverPairs[offset..]);
            var length = BinaryPrimitives.ReadUInt16LittleEndian(serverPairs[(offset + 2)..]);
            if (id == NtlmAvId.Eol)
            {
                break;
            }
            var pair = serverPairs.Slice(offset, AvHeaderSize + length).ToArray();
            if (id == NtlmAvId.Flags && setMicFlag)
            {
                sawFlags = true;
                var value = BinaryPrimitives.ReadUInt32LittleEndian(pair.AsSpan(AvHeaderSize));
                BinaryPrimitives.WriteUInt32LittleEndian(pair.AsSpan(AvHeaderSize), value | AvFlagMicPresent);
            }
            output.AddRange(pair);
            offset += AvHeaderSize + length;
        }
        if (setMicFlag && !sawFlags)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)NtlmAvId.Flags);
            BinaryPrimitives.WriteUInt16LittleEndian(header[2..], AvFlagsSize);
            output.AddRange(header);
            Span<byte> value = stackalloc byte[AvFlagsSize];
            BinaryPrimitives.WriteUInt32LittleEndian(value, AvFlagMicPresent);
            output.AddRange(value);
        }
        header.Clear(); // MsvAvEOL, length 0
        output.AddRange(header);
        return [.. output];
    }

    /// <summary>
    /// An AUTHENTICATE_MESSAGE with a zero MIC field (the caller computes the MIC over the whole exchange and
    /// writes it at <see cref="AuOffMic"/>). Payload order: domain, user, workstation, LM, NT, session key.
    /// </summary>
    public static byte[] BuildAuthenticate(
        NtlmNegotiateFlags flags,
        ReadOnlySpan<byte> lmResponse,
        ReadOnlySpan<byte> ntResponse,
        string domain,
        string user,
        string workstation,
        ReadOnlySpan<byte> encryptedRandomSessionKey)
    {
        var domainBytes = Encoding.Unicode.GetBytes(domain);
        var userBytes = Encoding.Unicode.GetBytes(user);
        var workstationBytes = Encoding.Unicode.GetBytes(workstation);
        var total = AuthenticateHeaderSize + domainBytes.Length + userBytes.Length + workstationBytes.Length
            + lmResponse.Length + ntResponse.Length + encryptedRandomSessionKey.Length;
        var message = new byte[total];
        Signature.CopyTo(message);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(OffMessageType), AuthenticateType);
        var at = AuthenticateHeaderSize;
        at = Append(message, AuOffDomainFields, at, domainBytes);
        at = Append(message, AuOffUserFields, at, userBytes);
        at = Append(message, AuOffWorkstationFields, at, workstationBytes);
        at = Append(message, AuOffLmFields, at, lmResponse);
        at = Append(message, AuOffNtFields, at, ntResponse);
        Append(message, AuOffSessionKeyFields, at, encryptedRandomSessionKey);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(AuOffFlags), (uint)flags);
        ClientVersion.CopyTo(message.AsSpan(AuOffVersion));
        return message;
    }

    private static int Append(byte[] message, int fieldsOffset, int payloadAt, ReadOnlySpan<byte> value)
    {
        WriteFields(message, fieldsOffset, value.Length, payloadAt);
        value.CopyTo(message.AsSpan(payloadAt));
        return payloadAt + value.Length;
    }

    private static void WriteFields(Span<byte> message, int fieldsOffset, int length, int payloadOffset)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(message[fieldsOffset..], checked((ushort)length));
        BinaryPrimitives.WriteUInt16LittleEndian(message[(fieldsOffset + 2)..], checked((ushort)length));
        BinaryPrimitives.WriteUInt32LittleEndian(message[(fieldsOffset + 4)..], checked((uint)payloadOffset));
    }

    private static ReadOnlySpan<byte> ReadField(ReadOnlySpan<byte> message, int fieldsOffset, string name)
    {
        var length = BinaryPrimitives.ReadUInt16LittleEndian(message[fieldsOffset..]);
        var offset = BinaryPrimitives.ReadUInt32LittleEndian(message[(fieldsOffset + 4)..]);
        if (length == 0)
        {
            return ReadOnlySpan<byte>.Empty;
        }
        if (offset > (uint)message.Length || length > message.Length - (int)offset)
        {
            throw new SmbProtocolException(
                $"NTLM {name} field (offset {offset}, length {length}) lies outside the {message.Length}-byte message.");
        }
        return message.Slice((int)offset, length);
    }
}
