namespace SmbLayer.Protocol;

/// <summary>SecurityMode of NEGOTIATE (2 bytes) and SESSION_SETUP (1 byte) (MS-SMB2 §2.2.3, §2.2.5).</summary>
[Flags]
internal enum SecurityMode : ushort
{
    None = 0,
    SigningEnabled = 0x0001,
    SigningRequired = 0x0002,
}

/// <summary>SMB2_GLOBAL_CAP_* (MS-SMB2 §2.2.3).</summary>
[Flags]
internal enum GlobalCapabilities : uint
{
    None = 0,
    Dfs = 0x00000001,
    Leasing = 0x00000002,
    LargeMtu = 0x00000004,
    MultiChannel = 0x00000008,
    PersistentHandles = 0x00000010,
    DirectoryLeasing = 0x00000020,
    Encryption = 0x00000040,
    Notifications = 0x00000080,
}

/// <summary>NEGOTIATE context types (MS-SMB2 §2.2.3.1).</summary>
internal enum NegotiateContextType : ushort
{
    PreauthIntegrityCapabilities = 0x0001,
    EncryptionCapabilities = 0x0002,
    CompressionCapabilities = 0x0003,
    NetnameNegotiateContextId = 0x0005,
    TransportCapabilities = 0x0006,
    RdmaTransformCapabilities = 0x0007,
    SigningCapabilities = 0x0008,
}

/// <summary>Pre-authentication integrity hash algorithms (MS-SMB2 §2.2.3.1.1).</summary>
internal enum PreauthHashAlgorithm : ushort
{
    Sha512 = 0x0001,
}

/// <summary>Encryption ciphers (MS-SMB2 §2.2.3.1.2).</summary>
internal enum CipherId : ushort
{
    None = 0x0000,
    Aes128Ccm = 0x0001,
    Aes128Gcm = 0x0002,
    Aes256Ccm = 0x0003,
    Aes256Gcm = 0x0004,
}

/// <summary>Signing algorithms of SIGNING_CAPABILITIES (MS-SMB2 §2.2.3.1.7).</summary>
internal enum Smb2SigningAlgorithmId : ushort
{
    HmacSha256 = 0x0000,
    AesCmac = 0x0001,
    AesGmac = 0x0002,
}

/// <summary>SESSION_SETUP request Flags (MS-SMB2 §2.2.5).</summary>
[Flags]
internal enum SessionSetupRequestFlags : byte
{
    None = 0,
    Binding = 0x01,
}

/// <summary>SESSION_SETUP response SessionFlags (MS-SMB2 §2.2.6).</summary>
[Flags]
internal enum SessionFlags : ushort
{
    None = 0,
    IsGuest = 0x0001,
    IsNull = 0x0002,
    EncryptData = 0x0004,
}

/// <summary>TREE_CONNECT request Flags for 3.1.1 (MS-SMB2 §2.2.9).</summary>
[Flags]
internal enum TreeConnectFlags : ushort
{
    None = 0,
    ClusterReconnect = 0x0001,
    RedirectToOwner = 0x0002,
    ExtensionPresent = 0x0004,
}

/// <summary>ShareType of TREE_CONNECT response (MS-SMB2 §2.2.10).</summary>
internal enum ShareType : byte
{
    Disk = 0x01,
    Pipe = 0x02,
    Print = 0x03,
}

/// <summary>ShareFlags of TREE_CONNECT response (MS-SMB2 §2.2.10). The caching policy is a 2-bit field under <see cref="CachingMask"/>.</summary>
[Flags]
internal enum ShareFlags : uint
{
    ManualCaching = 0x00000000,
    Dfs = 0x00000001,
    DfsRoot = 0x00000002,
    AutoCaching = 0x00000010,
    VdoCaching = 0x00000020,
    NoCaching = 0x00000030,
    CachingMask = 0x00000030,
    RestrictExclusiveOpens = 0x00000100,
    ForceSharedDelete = 0x00000200,
    AllowNamespaceCaching = 0x00000400,
    AccessBasedDirectoryEnum = 0x00000800,
    ForceLevel2Oplock = 0x00001000,
    EnableHashV1 = 0x00002000,
    EnableHashV2 = 0x00004000,
    EncryptData = 0x00008000,
    IdentityRemoting = 0x00040000,
    CompressData = 0x00100000,
    IsolatedTransport = 0x00200000,
}

/// <summary>Share Capabilities of TREE_CONNECT response (MS-SMB2 §2.2.10).</summary>
[Flags]
internal enum ShareCapabilities : uint
{
    None = 0,
    Dfs = 0x00000008,
    ContinuousAvailability = 0x00000010,
    Scaleout = 0x00000020,
    Cluster = 0x00000040,
    Asymmetric = 0x00000080,
    RedirectToOwner = 0x00000100,
}

/// <summary>Access mask for files, directories and pipes (MS-SMB2 §2.2.13.1).</summary>
[Flags]
internal enum AccessMask : uint
{
    None = 0,
    FileReadData = 0x00000001,
    FileListDirectory = 0x00000001,
    FileWriteData = 0x00000002,
    FileAddFile = 0x00000002,
    FileAppendData = 0x00000004,
    FileAddSubdirectory = 0x00000004,
    FileReadEa = 0x00000008,
    FileWriteEa = 0x00000010,
    FileExecute = 0x00000020,
    FileTraverse = 0x00000020,
    FileDeleteChild = 0x00000040,
    FileReadAttributes = 0x00000080,
    FileWriteAttributes = 0x00000100,
    Delete = 0x00010000,
    ReadControl = 0x00020000,
    WriteDac = 0x00040000,
    WriteOwner = 0x00080000,
    Synchronize = 0x00100000,
    AccessSystemSecurity = 0x01000000,
    MaximumAllowed = 0x02000000,
    GenericAll = 0x10000000,
    GenericExecute = 0x20000000,
    GenericWrite = 0x40000000,
    GenericRead = 0x80000000,
}

/// <summary>ShareAccess of CREATE (MS-SMB2 §2.2.13).</summary>
[Flags]
internal enum ShareAccess : uint
{
    None = 0,
    Read = 0x00000001,
    Write = 0x00000002,
    Delete = 0x00000004,
    All = Read | Write | Delete,
}

/// <summary>CreateDisposition of CREATE (MS-SMB2 §2.2.13).</summary>
internal enum CreateDisposition : uint
{
    Supersede = 0x00000000,
    Open = 0x00000001,
    Create = 0x00000002,
    OpenIf = 0x00000003,
    Overwrite = 0x00000004,
    OverwriteIf = 0x00000005,
}

/// <summary>CreateOptions of CREATE (MS-SMB2 §2.2.13).</summary>
[Flags]
internal enum CreateOptions : uint
{
    None = 0,
    DirectoryFile = 0x00000001,
    WriteThrough = 0x00000002,
    SequentialOnly = 0x00000004,
    NoIntermediateBuffering = 0x00000008,
    SynchronousIoAlert = 0x00000010,
    SynchronousIoNonAlert = 0x00000020,
    NonDirectoryFile = 0x00000040,
    CompleteIfOplocked = 0x00000100,
    NoEaKnowledge = 0x00000200,
    OpenRemoteInstance = 0x00000400,
    RandomAccess = 0x00000800,
    DeleteOnClose = 0x00001000,
    OpenByFileId = 0x00002000,
    OpenForBackupIntent = 0x00004000,
    NoCompression = 0x00008000,
    OpenRequiringOplock = 0x00010000,
    DisallowExclusive = 0x00020000,
    ReserveOpfilter = 0x00100000,
    OpenReparsePoint = 0x00200000,
    OpenNoRecall = 0x00400000,
    OpenForFreeSpaceQuery = 0x00800000,
}

/// <summary>CreateAction of CREATE response (MS-SMB2 §2.2.14).</summary>
internal enum CreateAction : uint
{
    Superseded = 0x00000000,
    Opened = 0x00000001,
    Created = 0x00000002,
    Overwritten = 0x00000003,
}

/// <summary>Oplock levels (MS-SMB2 §2.2.13, §2.2.23.1).</summary>
internal enum OplockLevel : byte
{
    None = 0x00,
    LevelII = 0x01,
    Exclusive = 0x08,
    Batch = 0x09,
    Lease = 0xFF,
}

/// <summary>Lease states (MS-SMB2 §2.2.13.2.8).</summary>
[Flags]
internal enum LeaseState : uint
{
    None = 0x00,
    ReadCaching = 0x01,
    HandleCaching = 0x02,
    WriteCaching = 0x04,
}

/// <summary>Lease flags of the RqLs create context (MS-SMB2 §2.2.13.2.8 / .10, §2.2.14.2.10 / .11).</summary>
[Flags]
internal enum LeaseFlags : uint
{
    None = 0,
    BreakInProgress = 0x00000002,
    ParentLeaseKeySet = 0x00000004,
}

/// <summary>ImpersonationLevel of CREATE (MS-SMB2 §2.2.13).</summary>
internal enum ImpersonationLevel : uint
{
    Anonymous = 0x00000000,
    Identification = 0x00000001,
    Impersonation = 0x00000002,
    Delegate = 0x00000003,
}

/// <summary>Flags of the durable handle v2 contexts (MS-SMB2 §2.2.13.2.11).</summary>
[Flags]
internal enum DurableHandleFlags : uint
{
    None = 0,
    Persistent = 0x00000002,
}

/// <summary>CLOSE request/response Flags (MS-SMB2 §2.2.15).</summary>
[Flags]
internal enum CloseFlags : ushort
{
    None = 0,
    PostQueryAttributes = 0x0001,
}

/// <summary>InfoType of QUERY_INFO / SET_INFO (MS-SMB2 §2.2.37).</summary>
internal enum InfoType : byte
{
    File = 0x01,
    FileSystem = 0x02,
    Security = 0x03,
    Quota = 0x04,
}

/// <summary>File information classes (MS-FSCC §2.4).</summary>
internal enum FileInformationClass : byte
{
    FileDirectoryInformation = 0x01,
    FileFullDirectoryInformation = 0x02,
    FileBothDirectoryInformation = 0x03,
    FileBasicInformation = 0x04,
    FileStandardInformation = 0x05,
    FileInternalInformation = 0x06,
    FileEaInformation = 0x07,
    FileAccessInformation = 0x08,
    FileNameInformation = 0x09,
    FileRenameInformation = 0x0A,
    FileLinkInformation = 0x0B,
    FileNamesInformation = 0x0C,
    FileDispositionInformation = 0x0D,
    FilePositionInformation = 0x0E,
    FileFullEaInformation = 0x0F,
    FileModeInformation = 0x10,
    FileAlignmentInformation = 0x11,
    FileAllInformation = 0x12,
    FileAllocationInformation = 0x13,
    FileEndOfFileInformation = 0x14,
    FileAlternateNameInformation = 0x15,
    FileStreamInformation = 0x16,
    FileCompressionInformation = 0x1C,
    FileNetworkOpenInformation = 0x22,
    FileAttributeTagInformation = 0x23,
    FileIdBothDirectoryInformation = 0x25,
    FileIdFullDirectoryInformation = 0x26,
    FileValidDataLengthInformation = 0x27,
    FileNormalizedNameInformation = 0x30,
    FileIdExtdDirectoryInformation = 0x3C,
}

/// <summary>File system information classes (MS-FSCC §2.5).</summary>
internal enum FsInformationClass : byte
{
    FileFsVolumeInformation = 0x01,
    FileFsLabelInformation = 0x02,
    FileFsSizeInformation = 0x03,
    FileFsDeviceInformation = 0x04,
    FileFsAttributeInformation = 0x05,
    FileFsControlInformation = 0x06,
    FileFsFullSizeInformation = 0x07,
    FileFsObjectIdInformation = 0x08,
    FileFsSectorSizeInformation = 0x0B,
}

/// <summary>QUERY_DIRECTORY Flags (MS-SMB2 §2.2.33).</summary>
[Flags]
internal enum QueryDirectoryFlags : byte
{
    None = 0,
    RestartScans = 0x01,
    ReturnSingleEntry = 0x02,
    IndexSpecified = 0x04,
    Reopen = 0x10,
}

/// <summary>QUERY_INFO Flags, meaningful for FileFullEaInformation (MS-SMB2 §2.2.37).</summary>
[Flags]
internal enum QueryInfoFlags : uint
{
    None = 0,
    RestartScan = 0x00000001,
    ReturnSingleEntry = 0x00000002,
    IndexSpecified = 0x00000004,
}

/// <summary>AdditionalInformation for security queries (MS-SMB2 §2.2.37).</summary>
[Flags]
internal enum SecurityInformation : uint
{
    None = 0,
    Owner = 0x00000001,
    Group = 0x00000002,
    Dacl = 0x00000004,
    Sacl = 0x00000008,
    Label = 0x00000010,
    Attribute = 0x00000020,
    Scope = 0x00000040,
    Backup = 0x00010000,
}

/// <summary>IOCTL request Flags (MS-SMB2 §2.2.31).</summary>
[Flags]
internal enum IoctlFlags : uint
{
    None = 0,
    IsFsctl = 0x00000001,
}

/// <summary>Lease break notification Flags (MS-SMB2 §2.2.23.2).</summary>
[Flags]
internal enum LeaseBreakFlags : uint
{
    None = 0,
    AckRequired = 0x00000001,
}
