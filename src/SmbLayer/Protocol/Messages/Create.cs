using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 CREATE request (MS-SMB2 §2.2.13).</summary>
internal sealed class CreateRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 57;
    private const int FixedSize = 56;
    private const int OffSecurityFlags = 2;
    private const int OffRequestedOplockLevel = 3;
    private const int OffImpersonationLevel = 4;
    private const int OffSmbCreateFlags = 8;
    private const int OffReserved = 16;
    private const int OffDesiredAccess = 24;
    private const int OffFileAttributes = 28;
    private const int OffShareAccess = 32;
    private const int OffCreateDisposition = 36;
    private const int OffCreateOptions = 40;
    private const int OffNameOffset = 44;
    private const int OffNameLength = 46;
    private const int OffCreateContextsOffset = 48;
    private const int OffCreateContextsLength = 52;
    private const int NamePosition = FixedSize;

    /// <param name="name">Path relative to the share, '\' separated, no leading '\'; empty opens the share root.</param>
    public CreateRequest(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
    }

    public Smb2Command Command => Smb2Command.Create;
    public string Name { get; }
    public OplockLevel RequestedOplockLevel { get; init; } = OplockLevel.None;
    public ImpersonationLevel ImpersonationLevel { get; init; } = ImpersonationLevel.Impersonation;
    public AccessMask DesiredAccess { get; init; }
    public FileAttributes FileAttributes { get; init; }
    public ShareAccess ShareAccess { get; init; } = ShareAccess.Read | ShareAccess.Write;
    public CreateDisposition CreateDisposition { get; init; } = CreateDisposition.Open;
    public CreateOptions CreateOptions { get; init; }
    public IReadOnlyList<CreateContext> CreateContexts { get; init; } = [];

    /// <summary>
    /// <see cref="Name"/> is a DFS path name (<c>server\share\path</c>), sent with SMB2_FLAGS_DFS_OPERATIONS, as the
    /// opens of a tree on a DFS share must be (MS-SMB2 §3.2.4.3).
    /// </summary>
    public bool IsDfsPathName { get; init; }

    public Smb2HeaderFlags HeaderFlags => IsDfsPathName ? Smb2HeaderFlags.DfsOperations : Smb2HeaderFlags.None;

    /// <summary>The same request for another name (a share-relative name made a DFS path name).</summary>
    public CreateRequest WithName(string name, bool isDfsPathName) => Copy(name, isDfsPathName, RequestedOplockLevel, CreateContexts);

    /// <summary>The same request with another oplock level and create-context list (durability, reconnect).</summary>
    public CreateRequest With(OplockLevel requestedOplockLevel, IReadOnlyList<CreateContext> createContexts) =>
        Copy(Name, IsDfsPathName, requestedOplockLevel, createContexts);

    private CreateRequest Copy(string name, bool isDfsPathName, OplockLevel requestedOplockLevel, IReadOnlyList<CreateContext> createContexts) => new(name)
    {
        RequestedOplockLevel = requestedOplockLevel,
        ImpersonationLevel = ImpersonationLevel,
        DesiredAccess = DesiredAccess,
        FileAttributes = FileAttributes,
        ShareAccess = ShareAccess,
        CreateDisposition = CreateDisposition,
        CreateOptions = CreateOptions,
        CreateContexts = createContexts,
        IsDfsPathName = isDfsPathName,
    };

    private int NameLength => Smb2Wire.Utf16Length(Name);

    /// <summary>Body position of the context chain: after the name, 8-byte aligned relative to the header.</summary>
    private int ContextsPosition => Smb2Wire.Align8(Smb2Wire.HeaderOffset(NamePosition + NameLength)) - Smb2Header.Size;

    public int BodySize => CreateContexts.Count == 0
        ? FixedSize + Math.Max(1, NameLength) // StructureSize 57 counts one Buffer byte even for an empty name.
        : ContextsPosition + CreateContextCodec.ChainLength(CreateContexts);

    public int PayloadSize => 0;

    public void WriteBody(Span<byte> body)
    {
        var nameLength = NameLength;
        Smb2Wire.CheckFits(nameLength, ushort.MaxValue, "CREATE", nameof(Name));
        body[..BodySize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        body[OffSecurityFlags] = 0;
        body[OffRequestedOplockLevel] = (byte)RequestedOplockLevel;
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffImpersonationLevel..], (uint)ImpersonationLevel);
        BinaryPrimitives.WriteUInt64LittleEndian(body[OffSmbCreateFlags..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(body[OffReserved..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffDesiredAccess..], (uint)DesiredAccess);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffFileAttributes..], (uint)FileAttributes);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffShareAccess..], (uint)ShareAccess);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffCreateDisposition..], (uint)CreateDisposition);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffCreateOptions..], (uint)CreateOptions);
        // NameOffset points at the Buffer even for an empty name (servers check it).
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffNameOffset..], (ushort)Smb2Wire.HeaderOffset(NamePosition));
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffNameLength..], (ushort)nameLength);
        Smb2Wire.WriteUtf16(Name, body[NamePosition..]);
        if (CreateContexts.Count > 0)
        {
            var position = ContextsPosition;
            var length = CreateContextCodec.WriteChain(CreateContexts, body[position..]);
            BinaryPrimitives.WriteUInt32LittleEndian(body[OffCreateContextsOffset..], (uint)Smb2Wire.HeaderOffset(position));
            BinaryPrimitives.WriteUInt32LittleEndian(body[OffCreateContextsLength..], (uint)length);
        }
    }
}

/// <summary>SMB2 CREATE response (MS-SMB2 §2.2.14) with its create contexts decoded.</summary>
internal sealed class CreateResponse
{
    public const ushort StructureSizeValue = 89;
    private const string Name = "CREATE response";
    private const int FixedSize = 88;
    private const int OffOplockLevel = 2;
    private const int OffFlags = 3;
    private const int OffCreateAction = 4;
    private const int OffCreationTime = 8;
    private const int OffLastAccessTime = 16;
    private const int OffLastWriteTime = 24;
    private const int OffChangeTime = 32;
    private const int OffAllocationSize = 40;
    private const int OffEndOfFile = 48;
    private const int OffFileAttributes = 56;
    private const int OffFileId = 64;
    private const int OffCreateContextsOffset = 80;
    private const int OffCreateContextsLength = 84;

    public OplockLevel OplockLevel { get; private init; }
    /// <summary>SMB2_CREATE_FLAG_REPARSEPOINT (1) in 3.1.1.</summary>
    public byte Flags { get; private init; }
    public CreateAction CreateAction { get; private init; }
    public ulong CreationTime { get; private init; }
    public ulong LastAccessTime { get; private init; }
    public ulong LastWriteTime { get; private init; }
    public ulong ChangeTime { get; private init; }
    public long AllocationSize { get; private init; }
    public long EndOfFile { get; private init; }
    public FileAttributes FileAttributes { get; private init; }
    public Smb2FileId FileId { get; private init; }

    public IReadOnlyList<CreateContext> CreateContexts { get; private init; } = [];
    public DurableHandleV2Response? DurableV2 { get; private init; }
    /// <summary>True when the server answered the DHnQ request (durable v1 granted).</summary>
    public bool DurableV1Granted { get; private init; }
    public MaximalAccessResponse? MaximalAccess { get; private init; }
    public OnDiskIdResponse? OnDiskId { get; private init; }
    public LeaseResponse? Lease { get; private init; }

    /// <summary>
    /// The FileId of a CREATE response whose fixed part is there, however the rest reads (null when the message is too
    /// short to hold it): what a client must close when it cannot use a successful answer.
    /// </summary>
    public static Smb2FileId? TryReadFileId(ReadOnlySpan<byte> message) =>
        message.Length >= Smb2Header.Size + OffFileId + Smb2FileId.Size ? Smb2FileId.Read(message[(Smb2Header.Size + OffFileId)..]) : null;

    public static CreateResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        var range = Smb2Wire.CheckBuffer(message,
            BinaryPrimitives.ReadUInt32LittleEndian(body[OffCreateContextsOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(body[OffCreateContextsLength..]),
            Smb2Wire.HeaderOffset(FixedSize), Name, "CreateContexts");
        var chain = message[range];
        var contexts = chain.IsEmpty ? [] : CreateContextCodec.ParseChain(chain, Name);

        DurableHandleV2Response? durableV2 = null;
        MaximalAccessResponse? maximalAccess = null;
        OnDiskIdResponse? onDiskId = null;
        LeaseResponse? lease = null;
        var durableV1 = false;
        foreach (var context in contexts)
        {
            switch (context.Name)
            {
                case CreateContext.DurableV2RequestName:
                    durableV2 = CreateContextCodec.ParseDurableV2Response(context.Data);
                    break;
                case CreateContext.DurableV1RequestName:
                    durableV1 = true;
                    break;
                case CreateContext.MaximalAccessName:
                    maximalAccess = CreateContextCodec.ParseMaximalAccessResponse(context.Data);
                    break;
                case CreateContext.QueryOnDiskIdName:
                    onDiskId = CreateContextCodec.ParseOnDiskIdResponse(context.Data);
                    break;
                case CreateContext.LeaseName:
                    lease = CreateContextCodec.ParseLeaseResponse(context.Data);
                    break;
                default:
                    break; // Unknown contexts stay available in CreateContexts.
            }
        }

        return new CreateResponse
        {
            OplockLevel = (OplockLevel)body[OffOplockLevel],
            Flags = body[OffFlags],
            CreateAction = (CreateAction)BinaryPrimitives.ReadUInt32LittleEndian(body[OffCreateAction..]),
            CreationTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffCreationTime..]),
            LastAccessTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffLastAccessTime..]),
            LastWriteTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffLastWriteTime..]),
            ChangeTime = BinaryPrimitives.ReadUInt64LittleEndian(body[OffChangeTime..]),
            AllocationSize = BinaryPrimitives.ReadInt64LittleEndian(body[OffAllocationSize..]),
            EndOfFile = BinaryPrimitives.ReadInt64LittleEndian(body[OffEndOfFile..]),
            FileAttributes = (FileAttributes)BinaryPrimitives.ReadUInt32LittleEndian(body[OffFileAttributes..]),
            FileId = Smb2FileId.Read(body[OffFileId..]),
            CreateContexts = contexts,
            DurableV2 = durableV2,
            DurableV1Granted = durableV1,
            MaximalAccess = maximalAccess,
            OnDiskId = onDiskId,
            Lease = lease,
        };
    }
}
