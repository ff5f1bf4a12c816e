Console.WriteLine("smb");
