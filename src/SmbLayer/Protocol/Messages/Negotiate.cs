using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>
/// Layout of one NEGOTIATE context (MS-SMB2 §2.2.3.1): ContextType(2), DataLength(2),
/// Reserved(4), Data. Contexts in a list start on 8-byte boundaries.
/// </summary>
internal static class NegotiateContextLayout
{
    public const int HeaderSize = 8;
    public const int OffContextType = 0;
    public const int OffDataLength = 2;
    public const int OffReserved = 4;
    public const int PreauthSaltSize = 32;

    /// <summary>Writes a context header and returns the data span (<paramref name="dataLength"/> bytes).</summary>
    public static Span<byte> WriteHeader(Span<byte> destination, NegotiateContextType type, int dataLength)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination[OffContextType..], (ushort)type);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[OffDataLength..], (ushort)dataLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[OffReserved..], 0);
        return destination.Slice(HeaderSize, dataLength);
    }
}

/// <summary>SMB2 NEGOTIATE request (MS-SMB2 §2.2.3), with the 3.1.1 negotiate context list.</summary>
internal sealed class NegotiateRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 36;
    private const int FixedSize = 36;
    private const int OffDialectCount = 2;
    private const int OffSecurityMode = 4;
    private const int OffCapabilities = 8;
    private const int OffClientGuid = 12;
    private const int OffNegotiateContextOffset = 28;
    private const int OffNegotiateContextCount = 32;
    private const int OffDialects = FixedSize;
    private const int DialectSize = 2;

    // Context payload layouts (§2.2.3.1.1, .2, .7).
    private const int PreauthFixedSize = 4; // HashAlgorithmCount(2) + SaltLength(2)
    private const int CountFieldSize = 2;
    private const int AlgorithmIdSize = 2;

    public Smb2Command Command => Smb2Command.Negotiate;

    /// <summary>Dialects offered, in the order written.</summary>
    public required IReadOnlyList<SmbDialect> Dialects { get; init; }
    public SecurityMode SecurityMode { get; init; } = SecurityMode.SigningEnabled;
    public GlobalCapabilities Capabilities { get; init; }
    public Guid ClientGuid { get; init; }

    /// <summary>Salt of PREAUTH_INTEGRITY_CAPABILITIES (SHA-512); required when 3.1.1 is offered. Usually 32 random bytes.</summary>
    public byte[]? PreauthSalt { get; init; }

    /// <summary>Ciphers for ENCRYPTION_CAPABILITIES, preferred first; the context is omitted when empty.</summary>
    public IReadOnlyList<CipherId> Ciphers { get; init; } = [];

    /// <summary>Algorithms for SIGNING_CAPABILITIES, preferred first; the context is omitted when empty.</summary>
    public IReadOnlyList<Smb2SigningAlgorithmId> SigningAlgorithms { get; init; } = [];

    public int PayloadSize => 0;

    /// <summary>True when 3.1.1 is offered, which makes the request carry negotiate contexts.</summary>
    public bool HasNegotiateContexts => Dialects.Contains(SmbDialect.Smb311);

    /// <summary>Body position of the first negotiate context (8-byte aligned relative to the header).</summary>
    private int ContextListPosition => Smb2Wire.Align8(Smb2Header.Size + OffDialects + (Dialects.Count * DialectSize)) - Smb2Header.Size;

    public int BodySize
    {
        get
        {
            Validate();
            var end = OffDialects + (Dialects.Count * DialectSize);
            if (!HasNegotiateContexts)
            {
                return end;
            }
            var pos = ContextListPosition;
            var first = true;
            foreach (var length in ContextDataLengths())
            {
                pos = first ? pos : Smb2Wire.Align8(Smb2Header.Size + pos) - Smb2Header.Size;
                first = false;
                pos += NegotiateContextLayout.HeaderSize + length;
            }
            return pos;
        }
    }

    public void WriteBody(Span<byte> body)
    {
        Validate();
        body[..BodySize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffDialectCount..], (ushort)Dialects.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffSecurityMode..], (ushort)SecurityMode);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffCapabilities..], (uint)Capabilities);
        Smb2Wire.WriteGuid(ClientGuid, body[OffClientGuid..]);
        for (var i = 0; i < Dialects.Count; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(body[(OffDialects + (i * DialectSize))..], (ushort)Dialects[i]);
        }
        if (!HasNegotiateContexts)
        {
            // ClientStartTime (8 bytes at the same position) stays 0.
            return;
        }

        var lengths = ContextDataLengths().ToArray();
        var pos = ContextListPosition;
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffNegotiateContextOffset..], (uint)Smb2Wire.HeaderOffset(pos));
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffNegotiateContextCount..], (ushort)lengths.Length);

        var index = 0;
        pos = WriteContext(body, pos, NegotiateContextType.PreauthIntegrityCapabilities, lengths[index++], data =>
        {
            BinaryPrimitives.WriteUInt16LittleEndian(data, 1);
            BinaryPrimitives.WriteUInt16LittleEndian(data[CountFieldSize..], (ushort)PreauthSalt!.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(data[PreauthFixedSize..], (ushort)PreauthHashAlgorithm.Sha512);
            PreauthSalt.CopyTo(data[(PreauthFixedSize + AlgorithmIdSize)..]);
        });
        if (Ciphers.Count > 0)
        {
            pos = Smb2Wire.Align8(Smb2Header.Size + pos) - Smb2Header.Size;
            pos = WriteContext(body, pos, NegotiateContextType.EncryptionCapabilities, lengths[index++],
                data => WriteIdList(data, Ciphers.Select(c => (ushort)c)));
        }
        if (SigningAlgorithms.Count > 0)
        {
            pos = Smb2Wire.Align8(Smb2Header.Size + pos) - Smb2Header.Size;
            WriteContext(body, pos, NegotiateContextType.SigningCapabilities, lengths[index],
                data => WriteIdList(data, SigningAlgorithms.Select(a => (ushort)a)));
        }
    }

    private delegate void DataWriter(Span<byte> data);

    private static int WriteContext(Span<byte> body, int pos, NegotiateContextType type, int length, DataWriter write)
    {
        write(NegotiateContextLayout.WriteHeader(body[pos..], type, length));
        return pos + NegotiateContextLayout.HeaderSize + length;
    }

    private static void WriteIdList(Span<byte> data, IEnumerable<ushort> ids)
    {
        var list = ids.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(data, (ushort)list.Length);
        for (var i = 0; i < list.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(data[(CountFieldSize + (i * AlgorithmIdSize))..], list[i]);
        }
    }

    private IEnumerable<int> ContextDataLengths()
    {
        yield return PreauthFixedSize + AlgorithmIdSize + PreauthSalt!.Length;
        if (Ciphers.Count > 0)
        {
            yield return CountFieldSize + (Ciphers.Count * AlgorithmIdSize);
        }
        if (SigningAlgorithms.Count > 0)
        {
            yield return CountFieldSize + (SigningAlgorithms.Count * AlgorithmIdSize);
        }
    }

    private void Validate()
    {
        if (Dialects.Count == 0)
        {
            throw new ArgumentException("NEGOTIATE needs at least one dialect.", nameof(Dialects));
        }
        Smb2Wire.CheckFits(Dialects.Count, ushort.MaxValue / DialectSize, "NEGOTIATE", nameof(Dialects));
        if (HasNegotiateContexts)
        {
            if (PreauthSalt is null)
            {
                throw new ArgumentException("NEGOTIATE offering 3.1.1 needs a pre-authentication salt.", nameof(PreauthSalt));
            }
            const int maxData = ushort.MaxValue - PreauthFixedSize - AlgorithmIdSize;
            Smb2Wire.CheckFits(PreauthSalt.Length, maxData, "NEGOTIATE", nameof(PreauthSalt));
            Smb2Wire.CheckFits(Ciphers.Count, maxData / AlgorithmIdSize, "NEGOTIATE", nameof(Ciphers));
            Smb2Wire.CheckFits(SigningAlgorithms.Count, maxData / AlgorithmIdSize, "NEGOTIATE", nameof(SigningAlgorithms));
        }
    }
}

/// <summary>A negotiate context as received: its type and a copy of its data.</summary>
internal sealed record NegotiateContext(NegotiateContextType Type, byte[] Data);

/// <summary>SMB2 NEGOTIATE response (MS-SMB2 §2.2.4) with the 3.1.1 contexts decoded.</summary>
internal sealed class NegotiateResponse
{
    public const ushort StructureSizeValue = 65;
    private const string Name = "NEGOTIATE response";
    private const int FixedSize = 64;
    private const int OffSecurityMode = 2;
    private const int OffDialectRevision = 4;
    private const int OffNegotiateContextCount = 6;
    private const int OffServerGuid = 8;
    private const int OffCapabilities = 24;
    private const int OffMaxTransactSize = 28;
    private const int OffMaxReadSize = 32;
    private const int OffMaxWriteSize = 36;
    private const int OffSystemTime = 40;
    private const int OffServerStartTime = 48;
    private const int OffSecurityBufferOffset = 56;
    private const int OffSecurityBufferLength = 58;
    private const int OffNegotiateContextOffset = 60;

    private const int CountFieldSize = 2;
    private const int AlgorithmIdSize = 2;
    private const int PreauthFixedSize = 4;

    /// <summary>DialectRevision 0x02FF: the server wants a second, SMB2-only NEGOTIATE (§3.2.5.2).</summary>
    public const ushort WildcardDialect = 0x02FF;

    public SecurityMode SecurityMode { get; private init; }
    /// <summary>Selected dialect; may be <see cref="WildcardDialect"/> after a multi-protocol negotiate.</summary>
    public SmbDialect DialectRevision { get; private init; }
    public Guid ServerGuid { get; private init; }
    public GlobalCapabilities Capabilities { get; private init; }
    public uint MaxTransactSize { get; private init; }
    public uint MaxReadSize { get; private init; }
    public uint MaxWriteSize { get; private init; }
    /// <summary>Server time as FILETIME (see <see cref="FileTime"/>).</summary>
    public ulong SystemTime { get; private init; }
    public ulong ServerStartTime { get; private init; }
    /// <summary>GSS token (SPNEGO NegTokenInit), possibly empty.</summary>
    public byte[] SecurityBuffer { get; private init; } = [];

    /// <summary>Every negotiate context received (3.1.1), including ones this client does not interpret.</summary>
    public IReadOnlyList<NegotiateContext> NegotiateContexts { get; private init; } = [];
    public PreauthHashAlgorithm? PreauthHashAlgorithm { get; private init; }
    public byte[]? PreauthSalt { get; private init; }
    /// <summary>Cipher selected by the server; <see cref="CipherId.None"/> when no common cipher.</summary>
    public CipherId? Cipher { get; private init; }
    public Smb2SigningAlgorithmId? SigningAlgorithm { get; private init; }

    public static NegotiateResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        var dialect = (SmbDialect)BinaryPrimitives.ReadUInt16LittleEndian(body[OffDialectRevision..]);
        var secRange = Smb2Wire.CheckBuffer(message,
            BinaryPrimitives.ReadUInt16LittleEndian(body[OffSecurityBufferOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(body[OffSecurityBufferLength..]),
            Smb2Wire.HeaderOffset(FixedSize), Name, "SecurityBuffer");

        PreauthHashAlgorithm? preauthHash = null;
        byte[]? salt = null;
        CipherId? cipher = null;
        Smb2SigningAlgorithmId? signing = null;
        var contexts = new List<NegotiateContext>();
        if (dialect == SmbDialect.Smb311)
        {
            var count = BinaryPrimitives.ReadUInt16LittleEndian(body[OffNegotiateContextCount..]);
            var offset = BinaryPrimitives.ReadUInt32LittleEndian(body[OffNegotiateContextOffset..]);
            if (count > 0)
            {
                if (offset < Smb2Wire.HeaderOffset(FixedSize) || offset > message.Length)
                {
                    throw new SmbProtocolException(
                        $"{Name} NegotiateContextOffset {offset} is outside the message body ({Smb2Wire.HeaderOffset(FixedSize)}..{message.Length}).");
                }
                if ((offset & (Smb2Wire.Alignment - 1)) != 0)
                {
                    throw new SmbProtocolException($"{Name} NegotiateContextOffset {offset} is not 8-byte aligned.");
                }
            }
            var pos = (int)Math.Min(offset, (uint)message.Length);
            for (var i = 0; i < count; i++)
            {
                if (i > 0)
                {
                    pos = Smb2Wire.Align8(pos);
                }
                if (pos > message.Length - NegotiateContextLayout.HeaderSize)
                {
                    throw new SmbProtocolException(
                        $"{Name} negotiate context {i} of {count} at offset {pos} runs past the end of the message ({message.Length} bytes).");
                }
                var type = (NegotiateContextType)BinaryPrimitives.ReadUInt16LittleEndian(message[(pos + NegotiateContextLayout.OffContextType)..]);
                var length = BinaryPrimitives.ReadUInt16LittleEndian(message[(pos + NegotiateContextLayout.OffDataLength)..]);
                var dataStart = pos + NegotiateContextLayout.HeaderSize;
                if (length > message.Length - dataStart)
                {
                    throw new SmbProtocolException(
                        $"{Name} negotiate context {i} ({type}) DataLength {length} exceeds the {message.Length - dataStart} bytes left.");
                }
                var data = message.Slice(dataStart, length);
                contexts.Add(new NegotiateContext(type, data.ToArray()));
                switch (type)
                {
                    case NegotiateContextType.PreauthIntegrityCapabilities:
                        (preauthHash, salt) = ParsePreauth(data);
                        break;
                    case NegotiateContextType.EncryptionCapabilities:
                        cipher = (CipherId)ParseSingleId(data, "EncryptionCapabilities CipherCount");
                        break;
                    case NegotiateContextType.SigningCapabilities:
                        signing = (Smb2SigningAlgorithmId)ParseSingleId(data, "SigningCapabilities SigningAlgorithmCount");
                        break;
                    default:
                        break; // Contexts this client does not use are skipped (§3.2.5.2).
                }
                pos = dataStart + length;
            }
        }

        return new NegotiateResponse
        {
            SecurityMode = (SecurityMode)BinaryPrimitives.ReadUInt16LittleEndian(body[OffSecurityMode..]),
            DialectRevision = dialect,
            ServerGuid = Smb2Wire.ReadGuid(body[OffServerGuid..]),
            Capabilities = (GlobalCapabilities)BinaryPrimitives.ReadUInt32LittleEndian(body[OffCapabilities..]),
            MaxTransactSize = BinaryPrimitives.ReadUInt32LittleEndian(body[OffMaxTransactSize..]),
            MaxReadSize = BinaryPrimitives.ReadUInt32LittleEndian(body[OffMaxReadSize..]),
            MaxWriteSize = BinaryPrimitives.ReadUInt32LittleEndian(body[OffMaxWriteSize..]),
            SystemTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffSystemTime..]),
            ServerStartTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffServerStartTime..]),
            SecurityBuffer = message[secRange].ToArray(),
            NegotiateContexts = contexts,
            PreauthHashAlgorithm = preauthHash,
            PreauthSalt = salt,
            Cipher = cipher,
            SigningAlgorithm = signing,
        };
    }

    private static (PreauthHashAlgorithm Hash, byte[] Salt) ParsePreauth(ReadOnlySpan<byte> data)
    {
        if (data.Length < PreauthFixedSize)
        {
            throw new SmbProtocolException($"{Name} PreauthIntegrityCapabilities data is {data.Length} bytes, need {PreauthFixedSize}.");
        }
        var hashCount = BinaryPrimitives.ReadUInt16LittleEndian(data);
        var saltLength = BinaryPrimitives.ReadUInt16LittleEndian(data[CountFieldSize..]);
        if (hashCount != 1)
        {
            // The server selects exactly one algorithm (§3.3.5.4).
            throw new SmbProtocolException($"{Name} PreauthIntegrityCapabilities HashAlgorithmCount is {hashCount}, expected 1.");
        }
        var need = PreauthFixedSize + (hashCount * AlgorithmIdSize) + saltLength;
        if (need > data.Length)
        {
            throw new SmbProtocolException(
                $"{Name} PreauthIntegrityCapabilities needs {need} bytes for {hashCount} hash(es) and a {saltLength}-byte salt, has {data.Length}.");
        }
        var hash = (PreauthHashAlgorithm)BinaryPrimitives.ReadUInt16LittleEndian(data[PreauthFixedSize..]);
        var salt = data.Slice(PreauthFixedSize + AlgorithmIdSize, saltLength).ToArray();
        return (hash, salt);
    }

    private static ushort ParseSingleId(ReadOnlySpan<byte> data, string field)
    {
        if (data.Length < CountFieldSize + AlgorithmIdSize)
        {
            throw new SmbProtocolException($"{Name} {field}: data is {data.Length} bytes, need {CountFieldSize + AlgorithmIdSize}.");
        }
        var count = BinaryPrimitives.ReadUInt16LittleEndian(data);
        if (count != 1)
        {
            throw new SmbProtocolException($"{Name} {field} is {count}, expected 1.");
        }
        return BinaryPrimitives.ReadUInt16LittleEndian(data[CountFieldSize..]);
    }
}
